package respond

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

func TestActionRegistry(t *testing.T) {
	tests := []struct {
		name string
		got  []Action
		want []Action
	}{
		{"Actions", Actions(), []Action{ActionApproval, ActionBlockIP, ActionComment, ActionCreateTask, ActionDisableUser,
			ActionEnrichGeoIP, ActionHTTPRequest, ActionIntelLookup, ActionNotify, ActionUnblockIP}},
		{"ManualActions", ManualActions(), []Action{ActionBlockIP, ActionComment, ActionCreateTask, ActionDisableUser,
			ActionEnrichGeoIP, ActionHTTPRequest, ActionIntelLookup, ActionNotify, ActionUnblockIP}},
		{"CommandActions", CommandActions(), []Action{ActionBlockIP, ActionDisableUser, ActionUnblockIP}},
		{"BatchActions", BatchActions(), []Action{ActionBlockIP, ActionUnblockIP}},
		{"target", actionsWhere(func(s *actionSpec) bool { return s.target }), []Action{ActionBlockIP, ActionDisableUser,
			ActionEnrichGeoIP, ActionIntelLookup, ActionUnblockIP}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for _, a := range Actions() {
		if !a.Known() {
			t.Errorf("%s.Known(): got false, want true", a)
		}
		if got, want := a.TakesCommand(), slices.Contains(CommandActions(), a); got != want {
			t.Errorf("%s.TakesCommand(): got %v, want %v", a, got, want)
		}
	}
	for _, a := range []Action{"", "Block_IP", "block_ip ", "shell"} {
		if a.Known() || a.TakesCommand() {
			t.Errorf("%q: got Known %v TakesCommand %v, want false, false", a, a.Known(), a.TakesCommand())
		}
	}
}

func TestListActions(t *testing.T) {
	tests := []struct {
		as   []Action
		conj string
		want string
	}{
		{nil, "or", ""},
		{[]Action{ActionComment}, "or", "comment"},
		{[]Action{ActionBlockIP, ActionUnblockIP}, "and", "block_ip and unblock_ip"},
		{[]Action{ActionBlockIP, ActionDisableUser, ActionUnblockIP}, "or", "block_ip, disable_user or unblock_ip"},
	}
	for _, tt := range tests {
		if got := ListActions(tt.as, tt.conj); got != tt.want {
			t.Errorf("ListActions(%v, %q): got %q, want %q", tt.as, tt.conj, got, tt.want)
		}
	}
}

func TestRegisterActionRefused(t *testing.T) {
	do := func(context.Context, *Runner, *actionCall) (string, string) { return "ok", "" }
	tests := []struct {
		name string
		spec actionSpec
		want string
	}{
		{"twice", actionSpec{name: ActionComment, do: do}, `action "comment" registered twice`},
		{"empty", actionSpec{name: "", do: do}, "not a lower-case word"},
		{"upper case", actionSpec{name: "Page", do: do}, "not a lower-case word"},
		{"dash", actionSpec{name: "page-out", do: do}, "not a lower-case word"},
		{"manual without doing", actionSpec{name: "page", manual: true}, "may be run by hand but does nothing"},
		{"batch without command", actionSpec{name: "page", batch: true, do: do}, "takes a batch command but no command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("got panic %q, want one containing %q", msg, tt.want)
				}
			}()
			registerAction(tt.spec)
		})
	}
}

// TestValidateActions: a step's action must be registered, and an action
// that applies to an entity needs a target.
func TestValidateActions(t *testing.T) {
	for _, a := range Actions() {
		p := &Playbook{Name: "p", Trigger: Trigger{On: "alert"}, Steps: []Step{{Action: a, With: validWith(a)}}}
		err := p.Validate()
		spec := actions[a]
		switch {
		case spec.target && (err == nil || !strings.Contains(err.Error(), "needs a target entity")):
			t.Errorf("%s without a target: got %v, want it to need a target", a, err)
		case !spec.target && err != nil:
			t.Errorf("%s without a target: got %v, want it accepted", a, err)
		}
		p.Steps[0].Target = "source.ip"
		if err := p.Validate(); err != nil {
			t.Errorf("%s with a target: got %v, want it accepted", a, err)
		}
	}
	p := &Playbook{Name: "p", Trigger: Trigger{On: "alert"}, Steps: []Step{{Action: "shell", Target: "host"}}}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `step 1: unknown action "shell"`) {
		t.Errorf("unknown action: got %v, want step 1: unknown action \"shell\"", err)
	}
}

// validWith returns parameters a's own check accepts.
func validWith(a Action) map[string]string {
	if a == ActionHTTPRequest {
		return map[string]string{"destination": "hr"}
	}
	return nil
}

// TestDoUnknownAction: a step whose action has nothing to do one by one
// (approval, which the runner carries out itself, or a name no one
// registered) fails instead of running.
func TestDoUnknownAction(t *testing.T) {
	r := &Runner{}
	for _, a := range []Action{ActionApproval, "shell"} {
		status, result := r.doCounted(t.Context(), &Playbook{}, Step{Action: a}, trigger{}, "x", 0)
		if status != "failed" || result != "unknown action "+string(a) {
			t.Errorf("%s: got %q, %q, want failed, unknown action %s", a, status, result, a)
		}
	}
}

// TestManualActions: a person may run the manual actions only; approval
// and names no one registered are refused before anything is recorded.
func TestManualActions(t *testing.T) { metatest.Engines(t, testManualActions) }

func testManualActions(t *testing.T) {
	f := newFixture(t)
	for _, a := range []string{"approval", "shell", "", "Comment"} {
		if _, err := f.r.Manual(t.Context(), f.incID, "alice", a, "", 0, nil); err == nil || err.Error() != `unknown action "`+a+`"` {
			t.Errorf("Manual(%q): got %v, want unknown action %q", a, err, a)
		}
	}
	if as := f.actions(t); len(as) != 0 {
		t.Errorf("refused actions recorded %+v, want none", as)
	}
	a, err := f.r.Manual(t.Context(), f.incID, "alice", string(ActionComment), "", 0, map[string]string{"text": "by hand"})
	if err != nil || a.Status != "ok" {
		t.Errorf("Manual(comment): got %+v, %v, want ok", a, err)
	}
}
