package probe

import (
	"reflect"
	"testing"
)

// A service with roles carries one verdict per function, in the order of
// the functions' first endpoints, for the pages that show them; a service
// without roles carries none.
func TestJudgeServiceFunctionVerdicts(t *testing.T) {
	role := func(r EndpointResult, role string) EndpointResult { r.Endpoint.Role = role; return r }
	svc := &Service{Name: "WhatsApp", Functions: map[string]Function{"messaging": {Critical: true}, "media": {MinUp: 2}}}
	r := JudgeService(svc, []EndpointResult{
		role(result("e1", Down, false), "messaging"), role(result("e2", Up, false), "messaging"),
		role(result("web", Up, false), "web"),
		role(result("mmg1", Up, false), "media"), role(result("mmg2", Down, false), "media"),
		result("star", Down, true),
	})
	want := []FunctionResult{
		{Name: "messaging", Status: Degraded, Critical: true, Up: 1, Total: 2},
		{Name: "web", Status: Up, Up: 1, Total: 1},
		{Name: "media", Status: Down, Up: 1, Total: 2},
		{Name: "star", Status: Down, Critical: true, Up: 0, Total: 1},
	}
	if !reflect.DeepEqual(r.Functions, want) {
		t.Errorf("functions:\n got %+v\nwant %+v", r.Functions, want)
	}
	if r.Status != Down {
		t.Errorf("status %s, want down (star is critical)", r.Status)
	}

	plain := JudgeService(&Service{Name: "S"}, []EndpointResult{result("a", Up, false), result("b", Down, false)})
	if plain.Functions != nil {
		t.Errorf("a service without roles has function verdicts: %+v", plain.Functions)
	}
}
