package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vigilsec/vigil/internal/apiclient"
	"github.com/vigilsec/vigil/internal/audit"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/meta/postgres"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"golang.org/x/term"
)

func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage console users: add, passwd, list, disable, enable",
		Long: `Manage the people who sign in to the console, directly in a data directory
(--data DIR, default ./vigil-data: its meta.db, beside a running server or
not), in the PostgreSQL database of a server run with --postgres (the same
--postgres DSN, or env VIGIL_POSTGRES), or through a running server's API
(--server URL with an admin's --token or env VIGIL_TOKEN). Every change is
audited: under "cli:<os user>" with --data or --postgres, under the
token's name with --server.

Passwords are read from standard input (one line; on a terminal, typed twice
without echo) or from --password-file FILE, never from the command line.

  printf '%s\n' "$PASSWORD" | vigil user add alice --role analyst --data /var/lib/vigil
  vigil user passwd alice --server https://vigil.example --token "$ADMIN_TOKEN"
  vigil user list --data /var/lib/vigil
  vigil user disable alice --data /var/lib/vigil

A new password or disabling ends the user's console sessions at once.`,
		// Without a Run, cobra answers an unknown subcommand with the help
		// and exit status 0, which a script would take for success.
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newUserAddCmd(), newUserPasswdCmd(), newUserListCmd(), newUserStateCmd(true), newUserStateCmd(false))
	return cmd
}

// userTarget is where a vigil user command works: a data directory's
// meta.db, or a server's REST API.
type userTarget struct {
	dataDir, serverURL, token, postgres string
}

func (t *userTarget) register(f *pflag.FlagSet) {
	f.StringVar(&t.dataDir, "data", "", "data directory whose meta.db to change (default ./vigil-data unless --server is given)")
	f.StringVar(&t.serverURL, "server", "", "change users through this server's API instead")
	f.StringVar(&t.token, "token", "", "API token of an admin, with --server (default: env VIGIL_TOKEN)")
	f.StringVar(&t.postgres, "postgres", "", "change the users in this PostgreSQL metadata database (the DSN of vigil serve --postgres; default: env VIGIL_POSTGRES)")
}

// userStore is what the subcommands do, on a data directory or a server.
type userStore interface {
	add(ctx context.Context, name, password string, role auth.Role) (auth.User, error)
	update(ctx context.Context, name string, up auth.UserUpdate) (auth.Updated, error)
	list(ctx context.Context) ([]auth.User, error)
	where() string
	Close() error
}

// open returns the store the flags name. create allows a data directory
// that does not exist yet (vigil user add before the first vigil serve).
func (t *userTarget) open(ctx context.Context, create bool) (userStore, error) {
	if t.postgres == "" && t.dataDir == "" && t.serverURL == "" {
		t.postgres = os.Getenv("VIGIL_POSTGRES")
	}
	switch {
	case t.serverURL != "" && t.dataDir != "":
		return nil, usageError{errors.New("give --server or --data, not both")}
	case t.postgres != "" && (t.serverURL != "" || t.dataDir != ""):
		return nil, usageError{errors.New("give --postgres without --server and --data: it names the database itself")}
	case t.postgres != "":
		pg, err := postgres.Open(ctx, t.postgres)
		if err != nil {
			return nil, err
		}
		return t.openDB(ctx, pg.DB(), "PostgreSQL "+postgres.Redact(t.postgres))
	case t.serverURL != "":
		token := apiclient.Token(t.token)
		if token == "" {
			return nil, usageError{errors.New("--server needs an admin's API token: --token or env VIGIL_TOKEN")}
		}
		return &serverUsers{base: t.serverURL, token: token}, nil
	}
	dir := t.dataDir
	if dir == "" {
		dir = "./vigil-data"
	}
	path := filepath.Join(dir, "meta.db")
	if _, err := os.Stat(path); err != nil {
		if !create || !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--data %s: no Vigil data here (%w); give the --data directory of vigil serve, or --server", dir, err)
		}
		// The first user, before the first vigil serve: the directory
		// is made as vigil serve makes it.
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
	}
	db, err := sqlite.OpenMeta(ctx, dir)
	if err != nil {
		return nil, err
	}
	return t.openDB(ctx, db, path)
}

// openDB returns the users of the metadata database db (named where in
// messages), which it closes.
func (t *userTarget) openDB(ctx context.Context, db *sql.DB, where string) (userStore, error) {
	as, err := auth.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	al, err := audit.Open(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &dirUsers{path: where, db: db, auth: as, change: auth.Change{Actor: cliActor(), Audit: al.RecordTx}}, nil
}

// cliActor names the person at the command line in the audit log.
func cliActor() string {
	name := ""
	if u, err := osuser.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = "uid " + strconv.Itoa(os.Getuid())
	}
	return "cli:" + name
}

// dirUsers changes the users of a data directory's meta.db (or a
// PostgreSQL metadata database) directly. The server may be running on it:
// SQLite's WAL and busy timeout (PostgreSQL's writer lock) serialise the
// writes, and the server reads users and sessions from the database on
// every sign-in and request.
type dirUsers struct {
	path string // where, in messages
	db   *sql.DB
	auth *auth.Service
	// change audits every change as made by the person at the command line.
	change auth.Change
}

func (d *dirUsers) add(ctx context.Context, name, password string, role auth.Role) (auth.User, error) {
	return d.auth.AddUser(ctx, d.change, name, password, role)
}

func (d *dirUsers) update(ctx context.Context, name string, up auth.UserUpdate) (auth.Updated, error) {
	return d.auth.UpdateUser(ctx, d.change, name, up)
}

func (d *dirUsers) list(ctx context.Context) ([]auth.User, error) { return d.auth.ListUsers(ctx) }
func (d *dirUsers) where() string                                 { return d.path }
func (d *dirUsers) Close() error                                  { return d.db.Close() }

// serverUsers changes users through a server's REST API.
type serverUsers struct{ base, token string }

// maxUsersAnswer bounds what the commands read of an answer.
const maxUsersAnswer = 64 << 20

func (s *serverUsers) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	b, err := apiclient.Call(ctx, "reaching", s.base, s.token, method, path, nil, body, maxUsersAnswer)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the answer of %s: %w", s.base, err)
	}
	return nil
}

func (s *serverUsers) add(ctx context.Context, name, password string, role auth.Role) (auth.User, error) {
	var u auth.User
	err := s.call(ctx, "POST", "/api/v1/users", map[string]string{"username": name, "password": password, "role": string(role)}, &u)
	return u, err
}

func (s *serverUsers) update(ctx context.Context, name string, up auth.UserUpdate) (auth.Updated, error) {
	in := map[string]any{}
	if up.Password != nil {
		in["password"] = *up.Password
	}
	if up.Disabled != nil {
		in["disabled"] = *up.Disabled
	}
	if up.Role != nil {
		in["role"] = *up.Role
	}
	var res auth.Updated
	err := s.call(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(name), in, &res)
	return res, err
}

func (s *serverUsers) list(ctx context.Context) ([]auth.User, error) {
	var out struct{ Users []auth.User }
	err := s.call(ctx, "GET", "/api/v1/users", nil, &out)
	return out.Users, err
}

func (s *serverUsers) where() string { return s.base }
func (s *serverUsers) Close() error  { return nil }

// withUsers opens the target, runs f and closes it.
func withUsers(cmd *cobra.Command, t *userTarget, create bool, f func(userStore) error) error {
	us, err := t.open(cmd.Context(), create)
	if err != nil {
		return err
	}
	defer us.Close()
	return f(us)
}

func newUserAddCmd() *cobra.Command {
	var (
		t            userTarget
		role, pwFile string
	)
	cmd := &cobra.Command{
		Use:   "add NAME --role ROLE",
		Short: "Add a console user (password on standard input or --password-file)",
		Long: `Add a console user with a role: admin, analyst or viewer (see docs/api.md,
"Roles"). The password is one line of standard input (typed twice without
echo on a terminal) or of --password-file FILE: at least 12 characters, at
most 1024 bytes.

  printf '%s\n' "$PASSWORD" | vigil user add alice --role analyst --data /var/lib/vigil`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role == "" {
				return usageError{errors.New("--role is required: admin, analyst or viewer")}
			}
			r, err := auth.ParseRole(role)
			if err == nil && r == auth.RoleIngest {
				err = errors.New("role ingest is for tokens, not people (want admin, analyst or viewer)")
			}
			if err != nil {
				return usageError{fmt.Errorf("--role: %w", err)}
			}
			pw, err := readNewPassword(cmd, pwFile, args[0])
			if err != nil {
				return err
			}
			return withUsers(cmd, &t, true, func(us userStore) error {
				u, err := us.add(cmd.Context(), args[0], pw, r)
				if err != nil {
					return fmt.Errorf("adding user %q: %w", args[0], err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "added user %s (role %s) in %s\n", u.Username, u.Role, us.where())
				return err
			})
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().StringVar(&role, "role", "", "the user's role: admin, analyst or viewer (required)")
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from the first line of this file instead of standard input")
	return cmd
}

func newUserPasswdCmd() *cobra.Command {
	var (
		t      userTarget
		pwFile string
	)
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (on standard input or --password-file); ends their sessions",
		Long: `Set a new password for a console user (a reset: the current one is not
asked). The password is read as for vigil user add. Every console session of
the user ends at once.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readNewPassword(cmd, pwFile, args[0])
			if err != nil {
				return err
			}
			return withUsers(cmd, &t, false, func(us userStore) error {
				res, err := us.update(cmd.Context(), args[0], auth.UserUpdate{Password: &pw})
				if err != nil {
					return fmt.Errorf("changing the password of %q: %w", args[0], err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "changed the password of %s; %s\n", res.User.Username, sessionsEnded(res.SessionsEnded))
				return err
			})
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from the first line of this file instead of standard input")
	return cmd
}

// newUserStateCmd is vigil user disable (disable true) or enable.
func newUserStateCmd(disable bool) *cobra.Command {
	var t userTarget
	use, short, doing := "enable NAME", "Let a disabled user sign in again", "enabling"
	if disable {
		use, short, doing = "disable NAME", "Stop a user from signing in; ends their sessions", "disabling"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withUsers(cmd, &t, false, func(us userStore) error {
				res, err := us.update(cmd.Context(), args[0], auth.UserUpdate{Disabled: &disable})
				if err != nil {
					return fmt.Errorf("%s user %q: %w", doing, args[0], err)
				}
				if disable {
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "disabled %s; %s\n", res.User.Username, sessionsEnded(res.SessionsEnded))
				} else {
					_, err = fmt.Fprintf(cmd.OutOrStdout(), "enabled %s\n", res.User.Username)
				}
				return err
			})
		},
	}
	t.register(cmd.Flags())
	return cmd
}

func sessionsEnded(n int) string {
	if n == 1 {
		return "ended 1 console session"
	}
	return fmt.Sprintf("ended %d console sessions", n)
}

func newUserListCmd() *cobra.Command {
	var (
		t      userTarget
		format string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List console users: name, role, disabled, created, last sign-in",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("--format: %q is not table or json", format)}
			}
			return withUsers(cmd, &t, false, func(us userStore) error {
				users, err := us.list(cmd.Context())
				if err != nil {
					return fmt.Errorf("listing users: %w", err)
				}
				return printUsers(cmd.OutOrStdout(), users, format)
			})
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// printUsers writes users as a table or as the API's JSON ({"users": [...]}).
func printUsers(w io.Writer, users []auth.User, format string) error {
	if users == nil {
		users = []auth.User{}
	}
	if format == "json" {
		b, err := json.MarshalIndent(map[string]any{"users": users}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tDISABLED\tCREATED\tLAST SIGN-IN")
	for _, u := range users {
		disabled, last := "no", "never"
		if u.Disabled {
			disabled = "yes"
		}
		if !u.LastLogin.IsZero() {
			last = u.LastLogin.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, disabled, u.Created.UTC().Format(time.RFC3339), last)
	}
	return tw.Flush()
}

// readNewPassword reads the new password of user: the first line of
// file, or of standard input; on a terminal, typed twice without echo. It
// is checked against the password policy before anything is changed.
func readNewPassword(cmd *cobra.Command, file, user string) (string, error) {
	var (
		pw  string
		err error
	)
	switch in := cmd.InOrStdin(); {
	case file != "":
		f, ferr := os.Open(file)
		if ferr != nil {
			return "", fmt.Errorf("--password-file: %w", ferr)
		}
		defer f.Close()
		if pw, err = readPasswordLine(f); err != nil {
			return "", fmt.Errorf("--password-file %s: %w", file, err)
		}
	case isTerminal(in):
		if pw, err = promptPassword(in.(*os.File), cmd.ErrOrStderr(), user); err != nil {
			return "", err
		}
	default:
		if pw, err = readPasswordLine(in); err != nil {
			return "", fmt.Errorf("standard input: %w", err)
		}
		if pw == "" {
			return "", errors.New(`no password on standard input: give it as one line, for example printf '%s\n' "$PASSWORD" | vigil user ..., or use --password-file FILE`)
		}
	}
	if err := auth.ValidatePassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// promptPassword asks for the password twice on a terminal, without echo.
func promptPassword(in *os.File, out io.Writer, user string) (string, error) {
	fd := int(in.Fd())
	fmt.Fprintf(out, "New password for %s: ", user)
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(out, "Type it again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if !bytes.Equal(a, b) {
		return "", errors.New("the two passwords differ; nothing changed")
	}
	return string(a), nil
}

// readPasswordLine returns the first line of r without its line ending
// (\n or \r\n). It reads at most a few bytes past the longest password
// allowed, so an endless stream costs nothing, and refuses a longer line
// rather than cut it.
func readPasswordLine(r io.Reader) (string, error) {
	const max = auth.MaxPasswordLength
	br := bufio.NewReader(io.LimitReader(r, max+3)) // the password, \r\n, and one byte to see that it is longer
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if len(line) > max {
		return "", fmt.Errorf("%w: the line is longer than %d bytes", auth.ErrPasswordPolicy, max)
	}
	return line, nil
}
