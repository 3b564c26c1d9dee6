package main

import (
	"strings"
	"testing"
)

const goodReport = `{"status":"up","services":[
 {"name":"a","endpoints":[{"name":"x","status":"up","attempts":3,"failures":0},{"name":"y","status":"up","attempts":3,"failures":0}]},
 {"name":"b","endpoints":[{"name":"z","status":"up","attempts":3,"failures":0}]}]}`

func TestCheckReport(t *testing.T) {
	tests := []struct {
		name, json string
		n          int
		want       string // a substring of the first problem; empty: valid
	}{
		{"valid", goodReport, 3, ""},
		{"too few endpoints", goodReport, 4, "lists 3 endpoints, want 4"},
		{"down endpoint", strings.Replace(goodReport, `"name":"y","status":"up"`, `"name":"y","status":"down","reason":"refused"`, 1), 3, "a/y is down: refused"},
		{"failures", strings.Replace(goodReport, `"attempts":3,"failures":0}]}]}`, `"attempts":3,"failures":1}]}]}`, 1), 3, "b/z: 1 failures"},
		{"attempts", strings.Replace(goodReport, `"name":"x","status":"up","attempts":3`, `"name":"x","status":"up","attempts":2`, 1), 3, "a/x: 2 attempts, want 3"},
		{"overall", strings.Replace(goodReport, `{"status":"up"`, `{"status":"unknown"`, 1), 3, `overall status is "unknown"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := checkReport([]byte(tt.json), tt.n, 3)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(p) > 0 {
					t.Fatalf("problems %q, want none", p)
				}
				return
			}
			if len(p) == 0 || !strings.Contains(p[0], tt.want) {
				t.Fatalf("problems %q, want one containing %q", p, tt.want)
			}
		})
	}
}

func TestCheckFloor(t *testing.T) {
	ok := `{"endpoints":10,"attempts":30,"ok":30,"failed":0}`
	if p, err := checkFloor([]byte(ok), 10, 3); err != nil || len(p) > 0 {
		t.Fatalf("valid summary: problems %q, err %v", p, err)
	}
	for _, bad := range []string{
		`{"endpoints":10,"attempts":30,"ok":29,"failed":1}`,
		`{"endpoints":10,"attempts":10,"ok":10,"failed":0}`,
		`{"endpoints":9,"attempts":30,"ok":30,"failed":0}`,
	} {
		if p, err := checkFloor([]byte(bad), 10, 3); err != nil || len(p) == 0 {
			t.Errorf("%s: no problem found (err %v)", bad, err)
		}
	}
	if _, err := checkFloor([]byte("not json"), 10, 3); err == nil {
		t.Error("malformed summary accepted")
	}
}
