package respond

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/incident"
)

// Action names a response action, as playbook steps, the API and the
// console write it. Each action registers itself from its own file
// (action_block.go, action_comment.go, ...) with registerAction: adding
// an action is adding a file and its test.
type Action string

// actionSpec is what a registered action declares.
type actionSpec struct {
	name Action
	// target: the action applies to an entity's values, once per value, so
	// a playbook step names the entity kind (source.ip, user, ...).
	target bool
	// manual: a person may run it by hand (the API and the console).
	manual bool
	// command: it runs the argv template an admin configures under
	// respond.commands.<name>; batch: also a batch command under
	// respond.batch_commands.<name>, once for many targets.
	command, batch bool
	// check checks the action's parameters (with) beyond what every
	// action's are checked for; manual is for a person's one-off action.
	// nil: no parameters of its own.
	check func(with map[string]string, manual bool) []error
	// do performs the action on one target and returns its status and
	// result. nil for an action that sets performAll, or that the playbook
	// runner carries out itself (approval).
	do func(ctx context.Context, r *Runner, c *actionCall) (status, result string)
	// performAll, when set, performs the actions of one step together
	// (a batch command for many addresses) instead of do for each, setting
	// each one's status and result; it returns the blocks to schedule.
	performAll func(ctx context.Context, r *Runner, c *actionCall, acts []*incident.Action) []block
}

// actionCall is one action of a step, as its do function sees it: the
// playbook (its Name is "" for a manual action), the step, what
// triggered it, the target ("" for a step without one) and the values
// its templates see.
type actionCall struct {
	p      *Playbook
	s      Step
	t      trigger
	target string
	d      tmplData
}

// actions maps an action's name to its spec; it is written by the init
// functions only and read without a lock.
var actions = map[Action]*actionSpec{}

// registerAction registers an action. A name registered twice, or one
// that is not a lower-case word, is a programming error, as is an action
// a person may run that does nothing of its own.
func registerAction(s actionSpec) {
	if s.name == "" || strings.IndexFunc(string(s.name), func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		panic(fmt.Sprintf("respond: action name %q is not a lower-case word", s.name))
	}
	if _, dup := actions[s.name]; dup {
		panic(fmt.Sprintf("respond: action %q registered twice", s.name))
	}
	if s.manual && s.do == nil && s.performAll == nil {
		panic(fmt.Sprintf("respond: action %q may be run by hand but does nothing", s.name))
	}
	if s.batch && !s.command {
		panic(fmt.Sprintf("respond: action %q takes a batch command but no command", s.name))
	}
	actions[s.name] = &s
}

// actionsWhere returns the names of the actions for which keep is true,
// sorted.
func actionsWhere(keep func(*actionSpec) bool) []Action {
	var out []Action
	for _, name := range slices.Sorted(maps.Keys(actions)) {
		if keep(actions[name]) {
			out = append(out, name)
		}
	}
	return out
}

// Actions returns the names of every action a playbook step may take,
// sorted.
func Actions() []Action { return actionsWhere(func(*actionSpec) bool { return true }) }

// ManualActions returns the names of the actions a person may run by hand
// (the API's POST /incidents/{id}/actions and the console), sorted.
func ManualActions() []Action { return actionsWhere(func(s *actionSpec) bool { return s.manual }) }

// CommandActions returns the names of the actions that run a command an
// admin configures under respond.commands, sorted.
func CommandActions() []Action { return actionsWhere(func(s *actionSpec) bool { return s.command }) }

// BatchActions returns the names of the actions that may run a batch
// command (respond.batch_commands), sorted.
func BatchActions() []Action { return actionsWhere(func(s *actionSpec) bool { return s.batch }) }

// Known reports whether a is a registered action.
func (a Action) Known() bool { return actions[a] != nil }

// TakesCommand reports whether a runs a command an admin configures under
// respond.commands.
func (a Action) TakesCommand() bool { return actions[a] != nil && actions[a].command }

// ListActions names actions for a message: "a, b or c" (conj "or").
func ListActions(as []Action, conj string) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = string(a)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}
