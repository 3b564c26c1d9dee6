package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/msgprobe/msgprobe/probe"
)

// servicesSlot is where the services array sits in the encoded document
// when it is empty. A raw newline only ever appears in encoded JSON as
// indentation, never inside a string, so this text cannot be found anywhere
// else.
const servicesSlot = "\n  \"services\": []"

// encodeJSON writes out, followed in place of its (empty) services by the
// services of r, each built and encoded in turn. encoding/json builds a whole
// document in memory, twice over when indenting; for a report of thousands
// of endpoints that is tens of megabytes at the very end of a run, when the
// results are all still held. This way only one service is, and the output
// is byte for byte what encoding the whole document would give.
func encodeJSON(w io.Writer, out jsonReport, r *probe.Report) error {
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetIndent("", "  ")
	// Reasons and targets hold '<', '>' and '&' often enough that the HTML
	// escapes would only make the file harder to read.
	enc.SetEscapeHTML(false)
	out.Services = []jsonService{}
	if err := enc.Encode(out); err != nil {
		return err
	}
	doc := head.Bytes()
	at := bytes.Index(doc, []byte(servicesSlot))
	if len(r.Services) == 0 {
		_, err := w.Write(doc)
		return err
	}
	if at < 0 {
		return errors.New("json: no services in the encoded report")
	}
	open := at + len(servicesSlot) - 1 // just past the '['

	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(doc[:open])
	var item bytes.Buffer
	itemEnc := json.NewEncoder(&item)
	itemEnc.SetIndent("    ", "  ")
	itemEnc.SetEscapeHTML(false)
	for i := range r.Services {
		item.Reset()
		if err := itemEnc.Encode(jsonServiceOf(&r.Services[i])); err != nil {
			return err
		}
		_, _ = bw.WriteString("\n    ")
		_, _ = bw.Write(bytes.TrimSuffix(item.Bytes(), []byte("\n")))
		if i < len(r.Services)-1 {
			_ = bw.WriteByte(',')
		}
	}
	_, _ = bw.WriteString("\n  ")
	_, _ = bw.Write(doc[open:]) // the ']' and what follows the services
	return bw.Flush()
}

func jsonServiceOf(s *probe.ServiceResult) jsonService {
	tags := serviceOf(s).Tags
	if tags == nil {
		tags = []string{}
	}
	out := jsonService{
		Name:      serviceOf(s).Name,
		Status:    s.Status,
		Reason:    s.Reason,
		Tags:      tags,
		Endpoints: jsonEndpoints(s.Endpoints),
	}
	out.StatusSince, out.StatusRuns, out.PreviousStatus = jsonSpan(s.Span)
	out.Provider = jsonProviderOf(s.Provider)
	return out
}
