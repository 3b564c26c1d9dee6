package mtproto

import (
	"bytes"
	"testing"
)

// FuzzResPQ feeds arbitrary payloads to the resPQ parser: it never panics,
// never returns both a value and an error of the wrong kind, and what it
// accepts encodes back to a payload it accepts the same way.
func FuzzResPQ(f *testing.F) {
	f.Add(unhex(f, sampleAnswer))
	f.Add(unhex(f, sampleRequest))
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	nonce := sampleNonceBytes(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := ParseResPQ(payload, nonce)
		if err != nil {
			if !IsAnswerError(err) {
				t.Fatalf("error of no answer kind: %T %v", err, err)
			}
			return
		}
		if r.Nonce != nonce || len(r.PQ) == 0 {
			t.Fatalf("accepted %+v", r)
		}
		again, err := ParseResPQ(EncodeResPQ(r), nonce)
		if err != nil {
			t.Fatalf("re-encoded resPQ rejected: %v", err)
		}
		if again.ServerNonce != r.ServerNonce || !bytes.Equal(again.PQ, r.PQ) || len(again.Fingerprints) != len(r.Fingerprints) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}

// FuzzFrame feeds arbitrary bytes to each transport's frame reader, plain
// and through an obfuscated client's stream: no panic, no payload over the
// cap, and an error unless a frame was read.
func FuzzFrame(f *testing.F) {
	payload := unhex(f, sampleAnswer)
	for i, tr := range Transports {
		fr := Framer{Transport: tr}
		f.Add(byte(i), fr.Frame(payload))
		f.Add(byte(i), fr.Frame([]byte{0x53, 0xfe, 0xff, 0xff}))
	}
	f.Add(byte(0), []byte{0x7f, 0xff, 0xff, 0xff})
	f.Add(byte(1), []byte{0xff, 0xff, 0xff, 0x7f})
	f.Add(byte(3), []byte("garbage from a hostile server"))
	const max = 4096
	f.Fuzz(func(t *testing.T, which byte, wire []byte) {
		tr := Transports[int(which)%len(Transports)]
		got, err := (&FrameReader{Transport: tr, Max: max}).ReadFrame(bytes.NewReader(wire))
		if err == nil && (len(got) == 0 || len(got) > max) {
			t.Fatalf("%s: payload of %d bytes", tr, len(got))
		}
		if which >= 3 && tr.CanObfuscate() {
			e, err := NewExchange(Config{Transport: tr, Obfuscated: true, Fingerprints: []uint64{1}, MaxFrame: max}, randomSource(which), testTime)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.ReadAnswer(bytes.NewReader(wire)); err == nil {
				t.Fatalf("random bytes passed as an answer to a fresh nonce")
			}
		}
	})
}
