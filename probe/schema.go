package probe

import _ "embed"

// Schema is the JSON Schema (draft 2020-12) of a configuration file, for
// editors: with it, the YAML language server completes keys and flags
// mistakes as they are typed. The loader stays the authority; the schema's
// tests prove the two agree on every example and on known mistakes.
//
//go:embed schema.json
var Schema []byte

// SchemaURL is where the schema of the main branch is published, for the
// "# yaml-language-server: $schema=..." line of a configuration file.
const SchemaURL = "https://raw.githubusercontent.com/msgprobe/msgprobe/main/probe/schema.json"
