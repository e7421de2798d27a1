package notify

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// An output is a kind of destination, named by a route's Type: how a
// route of its type is normalized and checked, where it connects (for the
// egress policy), which of its settings are secrets, and the sender that
// delivers to it. Each output registers itself from its file's init
// function (webhook.go, email.go, syslog.go): adding an output is adding a
// file and its test.
type output struct {
	// normalize fills the defaults of the output's own settings when r
	// has them. It runs for every output whatever r's type, as secrets
	// does: a route may keep the settings of a type it had before.
	normalize func(r *Route)
	// validate checks r's settings for this type (r is normalized); bad
	// makes the error, naming the route.
	validate func(r *Route, bad func(format string, args ...any) error) error
	// host returns the host a route of this type connects to and what it
	// is called in a refusal ("url host"), for the egress policy; "" when
	// the settings do not name one (validate reports it).
	host func(r *Route) (host, what string)
	// secrets returns pointers to r's secret settings of this output (nil
	// where r has no such settings): Masked shows them as "***", a new
	// route may not hold "***" in them, and an update that sends "***"
	// back keeps the stored value.
	secrets func(r *Route) []*string
	// newSender returns a sender for routes of this type; it belongs to
	// one worker (or one route test) and is closed by it.
	newSender func(n *Notifier) sender
}

// outputs maps a route type to its output; it is written by the init
// functions only and read without a lock.
var outputs = map[string]*output{}

// registerOutput registers o as route type typ. A type registered twice,
// or one without validation or sender, is a programming error.
func registerOutput(typ string, o output) {
	if typ == "" || typ != strings.ToLower(strings.TrimSpace(typ)) {
		panic(fmt.Sprintf("notify: output type %q is not a lower-case name", typ))
	}
	if _, dup := outputs[typ]; dup {
		panic(fmt.Sprintf("notify: output type %q registered twice", typ))
	}
	if o.validate == nil || o.host == nil || o.newSender == nil {
		panic(fmt.Sprintf("notify: output type %q lacks validate, host or newSender", typ))
	}
	outputs[typ] = &o
}

// types returns the route types, sorted.
func types() []string {
	return slices.Sorted(maps.Keys(outputs))
}

// typeList names the route types for a message: "a, b or c".
func typeList() string {
	ts := types()
	if len(ts) == 1 {
		return ts[0]
	}
	return strings.Join(ts[:len(ts)-1], ", ") + " or " + ts[len(ts)-1]
}

// eachSecret calls f with each secret setting r holds, of every output
// (a route may keep the settings of a type it had before).
func eachSecret(r *Route, f func(p *string)) {
	for _, typ := range types() {
		o := outputs[typ]
		if o.secrets == nil {
			continue
		}
		for _, p := range o.secrets(r) {
			if p != nil {
				f(p)
			}
		}
	}
}

// holdsMask reports whether r holds the mask of a stored secret where a
// secret goes: a new route must send its secrets.
func (r *Route) holdsMask() bool {
	held := strings.Contains(r.URL, masked)
	eachSecret(r, func(p *string) { held = held || *p == masked })
	return held
}

// restoreSecrets sets each secret of r that holds the mask to the stored
// value in old ("" when old has no such settings).
func (r *Route) restoreSecrets(old *Route) {
	for _, typ := range types() {
		o := outputs[typ]
		if o.secrets == nil {
			continue
		}
		sent, stored := o.secrets(r), o.secrets(old)
		for i, p := range sent {
			if p == nil || *p != masked {
				continue
			}
			*p = ""
			if i < len(stored) && stored[i] != nil {
				*p = *stored[i]
			}
		}
	}
}
