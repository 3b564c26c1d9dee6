package probe

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Delivery probes log in with the user's own test account, send one message
// and watch it arrive: the only check that sees "the app opens but messages
// are not delivered". This file holds what every delivery protocol shares:
// the deliver block, its secrets, the login/send/deliver phases and their
// classes, the probe message, and the scrubbing that keeps credentials out
// of every message. matrix.go, telegrambot.go and xmpp_deliver.go are the
// protocols.

// The phases of a delivery attempt, after dns, connect and tls.
const (
	PhaseLogin   Phase = "login"   // proving the credentials (once per run)
	PhaseSend    Phase = "send"    // handing the message to the service
	PhaseDeliver Phase = "deliver" // waiting for it to come back
)

// The classes of a delivery failure.
const (
	// ClassAuthFailed: the service refused the credentials.
	ClassAuthFailed Class = "auth_failed"
	// ClassSendRefused: logged in, but the service refused the message.
	ClassSendRefused Class = "send_refused"
	// ClassNotDelivered: the service accepted the message, and it did not
	// arrive within deliver.within.
	ClassNotDelivered Class = "not_delivered"
)

// deliverClasses are the classes every delivery protocol declares. Their
// messages read as the reason: "sent 09:38:02, not delivered within 10s".
var deliverClasses = []ClassInfo{
	{Class: ClassAuthFailed, SelfDescribed: true},
	{Class: ClassSendRefused, SelfDescribed: true},
	{Class: ClassNotDelivered, SelfDescribed: true},
}

// DefaultDeliverWithin is how long a sent message has to arrive.
const DefaultDeliverWithin = 10 * time.Second

// deliverSlack is the time a delivery attempt has beyond within when the
// endpoint sets no timeout: for the connection, the login and the send.
const deliverSlack = 10 * time.Second

// RoleDelivery is the role of delivery endpoints. A service's delivery
// function stands for its messaging: when it is down, messaging is down,
// whatever the connect and handshake probes say.
const RoleDelivery = "delivery"

// secret is a credential from the environment. It prints as a mark, in
// every verb and in JSON, so that no report, log or error can carry it by
// accident; only value() reads it, where a request is built.
type secret struct{ v string }

func (s secret) value() string                { return s.v }
func (s secret) set() bool                    { return s.v != "" }
func (s secret) String() string               { return "[secret]" }
func (s secret) GoString() string             { return "[secret]" }
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"[secret]"`), nil }
func (s secret) MarshalText() ([]byte, error) { return []byte("[secret]"), nil }

// deliverOptions is the deliver block.
type deliverOptions struct {
	Password    secret
	AccessToken secret
	Token       secret
	User        string
	To          string
	Room        string
	ChatID      string
	Within      time.Duration

	// keys are the keys the block held, with their key nodes, for the
	// protocol's Finish to judge which apply.
	keys map[string]*yaml.Node
}

var deliverKeys = []string{"password", "access_token", "token", "user", "to", "room", "chat_id", "within"}

// deliverSecrets are the keys whose values are credentials.
var deliverSecrets = []string{"password", "access_token", "token"}

var deliverBlock = Block{Name: "deliver", Keys: deliverKeys, Decode: (*loader).deliverOptions}

func (l *loader) deliverOptions(n *yaml.Node, ep *Endpoint) {
	f := l.fields(n, keySchema{what: "deliver", keys: deliverKeys})
	if f == nil {
		return
	}
	o := &deliverOptions{keys: map[string]*yaml.Node{}}
	for k, p := range f {
		o.keys[k] = p.k
	}
	for _, k := range deliverSecrets {
		p, ok := f[k]
		if !ok {
			continue
		}
		v, good := l.secretValue(p.v, "deliver."+k, envNameFor(ep.Kind, k))
		if !good {
			continue
		}
		switch k {
		case "password":
			o.Password = v
		case "access_token":
			o.AccessToken = v
		case "token":
			o.Token = v
		}
	}
	plain := map[string]*string{"user": &o.User, "to": &o.To, "room": &o.Room, "chat_id": &o.ChatID}
	for k, dst := range plain {
		p, ok := f[k]
		if !ok {
			continue
		}
		if s, good := l.str(p.v, "deliver."+k); good {
			if strings.TrimSpace(s) == "" {
				l.errorf(resolveAlias(p.v), "", "deliver.%s is empty", k)
				continue
			}
			*dst = strings.TrimSpace(s)
		}
	}
	if p, ok := f["within"]; ok {
		o.Within, _ = l.duration(p.v, "deliver.within")
	}
	setOptions(ep, "deliver", o)
}

// secretValue reads a credential. It must be one ${VAR} reference and
// nothing else: a password written in the file, or as the default of
// ${VAR:-...}, ends up in backups, repositories and screenshots. No
// message here quotes the value.
func (l *loader) secretValue(n *yaml.Node, field, envName string) (secret, bool) {
	n = resolveAlias(n)
	hint := fmt.Sprintf(`write it as "${%s}" and set %s in msgprobe's environment`, envName, envName)
	if n.Kind != yaml.ScalarNode || isNullNode(n) {
		l.errorf(n, hint, "%s must be a ${VARIABLE} reference, got %s", field, nodeDesc(n))
		return secret{}, false
	}
	name, ok := envRefOnly(n.Value)
	if !ok || n.ShortTag() != "!!str" {
		l.errorf(n, hint, "%s is written in the file: a credential must come from the environment", field)
		return secret{}, false
	}
	v, good := l.scalarText(n)
	if !good {
		return secret{}, false
	}
	if v == "" {
		l.errorf(n, "", "%s is empty: environment variable %q is set but empty", field, name)
		return secret{}, false
	}
	return secret{v}, true
}

// envNameFor suggests an environment variable for a credential of kind:
// MATRIX_PASSWORD, TELEGRAM_TOKEN, XMPP_PASSWORD.
func envNameFor(k Kind, key string) string {
	service, _, _ := strings.Cut(string(k), "+")
	if service == "" {
		service = "PROBE"
	}
	return strings.ToUpper(service + "_" + key)
}

// deliverSpec says which keys of the deliver block a protocol takes.
type deliverSpec struct {
	// Keys are the keys that apply; others are errors.
	Keys []string
	// Check validates the combination (one of access_token or
	// user+password...), reporting at the block's or endpoint's position.
	Check func(l *loader, ep *Endpoint, o *deliverOptions, at *yaml.Node)
}

// finishDeliver is the Finish of every delivery protocol: the block is
// there and holds only keys that apply, within is below the timeout, and
// the settings an account-using probe must not inherit are its own.
func finishDeliver(spec deliverSpec) func(l *loader, ep *Endpoint) {
	return func(l *loader, ep *Endpoint) {
		o, ok := ep.Options["deliver"].(*deliverOptions)
		if !ok {
			l.errorAt(ep.Pos, fmt.Sprintf("add deliver: {...} with the account to use, see examples/delivery.yaml"),
				"%s:// endpoint has no deliver block", ep.Kind)
			return
		}
		var first *yaml.Node
		for _, k := range deliverKeys {
			kn, has := o.keys[k]
			if !has {
				continue
			}
			if first == nil {
				first = kn
			}
			if !containsString(spec.Keys, k) {
				l.errorf(kn, "keys for "+string(ep.Kind)+"://: "+strings.Join(spec.Keys, ", "),
					"deliver.%s does not apply to %s:// targets", k, ep.Kind)
			}
		}
		if spec.Check != nil {
			spec.Check(l, ep, o, first)
		}
		if ep.Role == "" {
			ep.Role = RoleDelivery
		}
		if o.Within == 0 {
			o.Within = DefaultDeliverWithin
		}
		applyOnceSettings(ep, o.Within)
		if ep.Timeout <= o.Within {
			at := o.keys["within"]
			if at == nil {
				at = first
			}
			l.errorf(at, fmt.Sprintf("set timeout above %s on the endpoint (it bounds login, send and the wait), or a shorter within", durationText(o.Within)),
				"deliver.within %s is not below the endpoint's timeout %s", durationText(o.Within), durationText(ep.Timeout))
		}
	}
}

// applyOnceSettings gives an endpoint that acts on an account the settings
// of its own: every attempt sends a real message, so samples, timeout and
// degraded_latency inherited from defaults or the service (which are meant
// for connect probes: "samples: 3") do not apply. Set on the endpoint,
// they do.
func applyOnceSettings(ep *Endpoint, within time.Duration) {
	builtin := SettingSource{Level: LevelBuiltin}
	if ep.SetBy.Samples.Level != LevelEndpoint {
		ep.Samples, ep.SetBy.Samples = 1, builtin
	}
	if ep.SetBy.Timeout.Level != LevelEndpoint {
		ep.Timeout, ep.SetBy.Timeout = within+deliverSlack, builtin
	}
	if ep.SetBy.DegradedLatency.Level != LevelEndpoint {
		// A round trip through a service takes longer than a handshake;
		// half the bound is slow.
		ep.DegradedLatency, ep.SetBy.DegradedLatency = within/2, builtin
	}
}

// deliverOf is an endpoint's deliver block.
func deliverOf(ep *Endpoint) *deliverOptions { return optionsOf[deliverOptions](ep, "deliver") }

// deliverAccount names the account a delivery endpoint acts on, for the
// runner's rule that two attempts never use one account at once. A token
// is named by a hash: the name never leaves the process, but it must not
// be the secret even so.
func deliverAccount(ep *Endpoint) string {
	o := deliverOf(ep)
	who := o.User
	for _, s := range []secret{o.AccessToken, o.Token} {
		if who == "" && s.set() {
			sum := sha256.Sum256([]byte(s.value()))
			who = "token:" + hex.EncodeToString(sum[:8])
		}
	}
	service, _, _ := strings.Cut(string(ep.Kind), "+")
	return service + "|" + strings.ToLower(ep.Host) + "|" + who
}

// secrets are the credential values of the block, for scrubbing.
func (o *deliverOptions) secrets() []string {
	var out []string
	for _, s := range []secret{o.Password, o.AccessToken, o.Token} {
		if s.set() {
			out = append(out, s.value())
		}
	}
	return out
}

// deliverNotes are the words `msgprobe list` shows: where the message
// goes and the bound, never a credential.
func deliverNotes(ep *Endpoint) []string {
	o := deliverOf(ep)
	var notes []string
	switch {
	case o.Room != "":
		notes = append(notes, "room "+o.Room)
	case o.ChatID != "":
		notes = append(notes, "chat "+o.ChatID)
	case o.To != "":
		notes = append(notes, "to "+o.To)
	}
	if o.User != "" {
		notes = append(notes, "as "+o.User)
	}
	return append(notes, "within "+durationText(o.Within))
}

// probeMessage is the text of a probe message: marked as a probe, with the
// time it was sent and an id no other attempt shares, so that the attempt
// knows its own message when it sees it and a person reading the room
// knows what it is.
func probeMessage(now time.Time) (text, id string) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	id = hex.EncodeToString(b[:])
	return "msgprobe probe " + now.UTC().Format(time.RFC3339) + " " + id, id
}

// notDelivered is the failure of a message accepted and not seen in time.
func notDelivered(sent time.Time, within time.Duration) *Failure {
	return &Failure{Class: ClassNotDelivered, Phase: PhaseDeliver,
		Err: fmt.Errorf("sent %s, not delivered within %s", sent.Format("15:04:05"), durationText(within))}
}

// scrubbed is an error whose text has had the credentials cut out.
type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// scrub removes every credential from a failure's message, whatever put it
// there: a server that echoes the request in its error, a URL in a Go
// error. It is the last step of every delivery attempt.
func scrub(f *Failure, secrets []string) *Failure {
	if f == nil || f.Err == nil {
		return f
	}
	msg := f.Err.Error()
	clean := scrubText(msg, secrets)
	if clean == msg {
		return f
	}
	// The cause is dropped too: anything that unwraps it could print it.
	return &Failure{Class: f.Class, Phase: f.Phase, Err: &scrubbed{msg: clean, err: errors.New(clean)}}
}

func scrubText(s string, secrets []string) string {
	for _, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[secret]")
		}
	}
	return s
}

// scrubDetails removes credentials from the details of an attempt.
func scrubDetails(a *Attempt, secrets []string) {
	for k, v := range a.Details {
		if s, ok := v.(string); ok {
			a.Details[k] = scrubText(s, secrets)
		}
	}
}

// durationText writes a duration the way a configuration says it: "10s",
// "1.5s", "800ms".
func durationText(d time.Duration) string {
	switch {
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
}
