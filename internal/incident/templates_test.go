package incident

import (
	"slices"
	"testing"
)

func TestTemplateTasks(t *testing.T) {
	cred := taskTemplates["credential-access"]
	exec := taskTemplates["execution"]
	tests := []struct {
		name string
		tags []string
		want []string
	}{
		{"none", nil, nil},
		{"one tactic", []string{"attack.credential-access", "attack.t1110.001"}, cred},
		{"any case", []string{"Attack.Credential-Access"}, cred},
		{"two tactics in tag order", []string{"attack.execution", "attack.credential-access"}, append(slices.Clone(exec), cred...)},
		{"each task once", []string{"attack.execution", "ATTACK.EXECUTION"}, exec},
		{"a tactic without templates", []string{"attack.discovery", "attack.collection"}, nil},
		{"the attack namespace is needed", []string{"credential-access", "execution"}, nil},
		{"techniques and groups give none", []string{"attack.t1059", "attack.g0032"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TemplateTasks(tt.tags); !slices.Equal(got, tt.want) {
				t.Errorf("TemplateTasks(%q): got %q, want %q", tt.tags, got, tt.want)
			}
		})
	}
}
