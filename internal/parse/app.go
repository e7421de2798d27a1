package parse

import "fmt"

// An app is an application parser: it registers the syslog programs whose
// messages it decodes, the Sigma linux service of those messages, and its
// decoder. Adding a parser for a new program is adding a file that calls
// registerApp from its init function, plus its test.
type app struct {
	// programs are the syslog program names (APP-NAME, TAG, process.name)
	// the app serves, compared exactly.
	programs []string
	// service is the Sigma linux service of the programs' messages ("" for
	// none); serviceIsProgram uses each program's own name instead (the
	// auth.log programs, which the logsource mapping gathers into
	// linux/auth).
	service          string
	serviceIsProgram bool
	// decode decodes msg, logged by prog, and reports whether it was one of
	// the app's messages; when it was not, msg is decoded by its shape
	// (content). nil registers a service only: the message then goes to the
	// pam_unix fallback and to its shape, as for an unknown program.
	decode func(st *state, prog, msg string) bool
}

// apps maps a program name to its app; it is written by the init
// functions only and read without a lock.
var apps = map[string]*app{}

// registerApp registers a for each of its programs. A program registered
// twice is a programming error.
func registerApp(a app) {
	for _, p := range a.programs {
		if p == "" {
			panic("parse: registering an app without a program name")
		}
		if _, dup := apps[p]; dup {
			panic(fmt.Sprintf("parse: program %q registered twice", p))
		}
		apps[p] = &a
	}
}

// serviceOf maps a syslog program to the Sigma linux service its messages
// belong to, or "".
func serviceOf(prog string) string { return apps[prog].serviceFor(prog) }

// serviceFor returns the Sigma linux service of the messages of prog,
// whose app is a (nil: none), or "". A caller that also decodes the
// message looks the app up once for both.
func (a *app) serviceFor(prog string) string {
	switch {
	case a == nil:
		return ""
	case a.serviceIsProgram:
		return prog
	}
	return a.service
}
