package respond

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlaybookMasked(t *testing.T) {
	p := &Playbook{Name: "notify-soc", Trigger: Trigger{On: "alert", Rules: []string{"r1"}}, Steps: []Step{
		{Name: "call", Action: "http_request", With: map[string]string{
			"destination": "soc", "body": `{"ip": "{{.Target}}", "auth": "static-s3cret"}`, "note": "https://u:pw-123@h.example/x",
		}, Secret: []string{"body"}},
		{Name: "note", Action: "comment", With: map[string]string{"text": "see https://h.example/?api_key=k-9 for {{.Target}}", "api_token": "t-1"}},
		{Name: "block", Action: "block_ip", Target: "source.ip"},
	}}
	m := p.Masked()
	want := []map[string]string{
		{"destination": "soc", "body": "***", "note": "https://u:***@h.example/x"},
		{"text": "see https://h.example/?api_key=*** for {{.Target}}", "api_token": "***"},
		nil,
	}
	for i, s := range m.Steps {
		if diff := cmp.Diff(want[i], s.With); diff != "" {
			t.Errorf("step %d with (-want +got):\n%s", i+1, diff)
		}
	}
	// The playbook the runner uses keeps its secrets.
	if got := p.Steps[0].With["body"]; !strings.Contains(got, "static-s3cret") {
		t.Errorf("original body changed to %q", got)
	}
	if got := p.Steps[1].With["api_token"]; got != "t-1" {
		t.Errorf("original api_token changed to %q", got)
	}
	m.Trigger.Rules[0] = "changed"
	if p.Trigger.Rules[0] != "r1" {
		t.Error("Masked shares the trigger's rules with the original")
	}
}

func TestPlaybookSecretNamesAParameter(t *testing.T) {
	p := &Playbook{Name: "x", Trigger: Trigger{On: "manual"}, Steps: []Step{
		{Name: "note", Action: "comment", With: map[string]string{"text": "hi"}, Secret: []string{"txt"}},
	}}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), `secret "txt" names no parameter of with`) {
		t.Errorf("Validate: got %v, want an error naming secret \"txt\"", err)
	}
}
