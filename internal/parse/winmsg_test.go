package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRenderWinParams(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"%%2313", "Unknown user name or bad password.", true},
		{"%%1538\r\n\t\t\t\t%%4417\r\n\t\t\t\t", "READ_CONTROL\r\n\t\t\t\tWriteData (or AddFile)\r\n\t\t\t\t", true},
		{"%%8448, %%8450", "Success removed, Failure removed", true},
		{"%%1936", "TokenElevationTypeDefault (1)", true},
		{"%%1833", "Impersonation", true},
		{"%%1842", "Yes", true},
		{"%%2080 %%2090 %%2089", "Account Disabled Account Locked 'Don't Expire Password' - Enabled", true},
		{"%%2068", "'Undefined UserAccountControl Bit 20' - Disabled", true},
		{"%%1555", "Unknown specific access (bit 3)", true},
		{"%%7688", "Control Access", true},
		// Unknown numbers stay as they are beside known ones.
		{"%%4417 %%9999", "WriteData (or AddFile) %%9999", true},
		// Nothing to render.
		{"%%9999", "", false},
		{"%%70000", "", false},
		{"%%4417x", "", false},
		{"cmd /c echo %%4417", "", false},
		{"%%", "", false},
		{"%%%4417", "", false},
		{"", "", false},
		{"   ", "", false},
		{"%%1234567890", "", false},
	}
	for _, tt := range tests {
		got, ok := renderWinParams(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("renderWinParams(%q): got (%q, %v), want (%q, %v)", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestRenderWinParamsBound: a list longer than maxWinParams is left as it
// is.
func TestRenderWinParamsBound(t *testing.T) {
	at := strings.Repeat("%%4416 ", maxWinParams)
	if _, ok := renderWinParams(at); !ok {
		t.Errorf("%d parameters: not rendered", maxWinParams)
	}
	if _, ok := renderWinParams(at + "%%4416"); ok {
		t.Errorf("%d parameters: rendered, want left as it is", maxWinParams+1)
	}
}

// TestWinParamsInEvents: every Windows path renders, keeping the raw text
// as the first value.
func TestWinParamsInEvents(t *testing.T) {
	p := New(Options{})
	tests := []struct {
		name, line string
		field      string
		want       []string
	}{
		{
			name:  "evtx_dump JSON",
			line:  `{"Event":{"System":{"EventID":4625,"Channel":"Security","Computer":"h"},"EventData":{"FailureReason":"%%2313","Status":"0xc000006d"}}}`,
			field: "FailureReason", want: []string{"%%2313", "Unknown user name or bad password."},
		},
		{
			name:  "Winlogbeat",
			line:  `{"winlog":{"event_id":"4624","channel":"Security","event_data":{"ImpersonationLevel":"%%1833"}}}`,
			field: "ImpersonationLevel", want: []string{"%%1833", "Impersonation"},
		},
		{
			name:  "rendered XML",
			line:  `<Event><System><EventID>4688</EventID><Channel>Security</Channel></System><EventData><Data Name="TokenElevationType">%%1937</Data></EventData></Event>`,
			field: "TokenElevationType", want: []string{"%%1937", "TokenElevationTypeFull (2)"},
		},
		{
			name:  "flat JSON",
			line:  `{"EventID":4663,"Channel":"Security","AccessList":"%%4484 "}`,
			field: "AccessList", want: []string{"%%4484 ", "Read from process memory "},
		},
		{
			name:  "text with a parameter is left",
			line:  `{"EventID":4688,"Channel":"Security","CommandLine":"cmd /c for %%4417 in (*) do x"}`,
			field: "CommandLine", want: []string{"cmd /c for %%4417 in (*) do x"},
		},
		{
			name:  "not a Windows event",
			line:  `{"AccessList":"%%4417","message":"x"}`,
			field: "AccessList", want: []string{"%%4417"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseLine(t, p, tt.line)
			if diff := cmp.Diff(tt.want, values(ev, tt.field)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

func FuzzWinParams(f *testing.F) {
	for _, s := range []string{"%%2313", "%%1538\r\n\t%%4417", "%%8448, %%8450", "%%", "%%99999999", "%%4417 x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := renderWinParams(s)
		if !ok {
			if got != "" {
				t.Fatalf("not rendered but got %q", got)
			}
			return
		}
		if got == s {
			t.Fatalf("rendered %q unchanged", s)
		}
		// Rendering keeps the separators: as many lines as the input.
		if strings.Count(got, "\n") != strings.Count(s, "\n") {
			t.Fatalf("rendered %q as %q: separators changed", s, got)
		}
	})
}
