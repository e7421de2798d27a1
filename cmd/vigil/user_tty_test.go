//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("naming the pseudo-terminal: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestPromptPassword: on a terminal the password is asked twice, without
// echo, and two different answers change nothing.
func TestPromptPassword(t *testing.T) {
	tests := []struct {
		name, typed, want, wantErr string
	}{
		{name: "twice the same", typed: "a typed passphrase\na typed passphrase\n", want: "a typed passphrase"},
		{name: "different", typed: "a typed passphrase\nanother passphrase\n", wantErr: "the two passwords differ"},
		{name: "short", typed: "short\nshort\n", wantErr: "at least 12 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			if !term.IsTerminal(int(slave.Fd())) {
				t.Fatal("the pseudo-terminal is not a terminal")
			}
			// Type once echo is off (the first ReadPassword has begun):
			// the line discipline echoes at input time, so whatever the
			// terminal shows of the lines was echoed under the settings
			// ReadPassword made. It holds both lines until each read.
			typed := make(chan error, 1)
			go func() {
				deadline := time.Now().Add(10 * time.Second)
				for {
					st, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
					if err != nil {
						typed <- err
						return
					}
					if st.Lflag&unix.ECHO == 0 {
						_, err := io.WriteString(master, tt.typed)
						typed <- err
						return
					}
					if time.Now().After(deadline) {
						// Type anyway, so that the read under test ends.
						io.WriteString(master, tt.typed)
						typed <- errors.New("echo was never turned off for the password")
						return
					}
					// Polls the terminal's settings, which the code
					// under test changes from another goroutine.
					time.Sleep(time.Millisecond)
				}
			}()
			var prompts bytes.Buffer
			cmd := &cobra.Command{}
			cmd.SetIn(slave)
			cmd.SetErr(&prompts)
			cmd.SetContext(context.Background())
			got, err := readNewPassword(cmd, "", "alice")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if p := prompts.String(); !strings.Contains(p, "New password for alice: ") || !strings.Contains(p, "Type it again: ") {
				t.Errorf("prompts: got %q, want both", p)
			}
			if err := <-typed; err != nil {
				t.Fatal(err)
			}
			// What the terminal showed, up to a marker written after the
			// prompts: nothing of the password.
			if _, err := io.WriteString(slave, "END-OF-TEST\n"); err != nil {
				t.Fatal(err)
			}
			var shown []byte
			buf := make([]byte, 256)
			for !bytes.Contains(shown, []byte("END-OF-TEST")) {
				n, err := master.Read(buf)
				if err != nil {
					t.Fatalf("reading the terminal: %v (so far %q)", err, shown)
				}
				shown = append(shown, buf[:n]...)
			}
			if first, _, _ := strings.Cut(tt.typed, "\n"); bytes.Contains(shown, []byte(first)) {
				t.Errorf("the terminal showed %q, which holds the typed password", shown)
			}
			st, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if st.Lflag&unix.ECHO == 0 {
				t.Errorf("echo left off after the prompt")
			}
		})
	}
}
