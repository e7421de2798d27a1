package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// First-run setup. A server whose meta database has no enabled admin user
// makes a one-time setup code (NewSetup) and prints it in its startup log,
// as Jupyter prints its token: whoever can read the server's log, and only
// they, can create the first admin account in a browser (Setup.Complete).
// The code lives in the process's memory only: a restart makes a new one,
// and once an admin exists (made by the setup, by vigil user or through
// the API) it is void and never made again.

// setupCodeBytes is the setup code's entropy: 160 bits, 32 base32
// characters.
const setupCodeBytes = 20

// MaxSetupCodeLength bounds the code a setup form may present: a code is
// 39 characters with its dashes; a longer one is refused without being
// compared.
const MaxSetupCodeLength = 128

// Errors of the first-run setup.
var (
	// ErrSetupDone means there is no setup to complete: an enabled admin
	// user exists, or the code was used.
	ErrSetupDone = errors.New("setup is done: an admin account exists")
	// ErrSetupCode means the code presented is not the setup code.
	ErrSetupCode = errors.New("wrong setup code")
	// ErrSetupName wraps a user name the setup may not give its admin.
	ErrSetupName = errors.New("user name refused")
)

var setupEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Setup is the first-run setup of one server process. It is safe for
// concurrent use.
type Setup struct {
	svc *Service

	mu   sync.Mutex
	code []byte // canonical: upper-case base32, no dashes; nil once done
	busy bool   // a setup with the right code is creating its admin
}

// HasAdmin reports whether an enabled admin user exists.
func (s *Service) HasAdmin(ctx context.Context) (bool, error) {
	return hasAdmin(ctx, s.db)
}

func hasAdmin(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE role = ? AND disabled = 0)`, string(RoleAdmin)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("looking for an admin user: %w", err)
	}
	return ok, nil
}

// NewSetup returns the first-run setup with a new random code, or nil when
// an enabled admin user exists (there is nothing to set up).
func (s *Service) NewSetup(ctx context.Context) (*Setup, error) {
	ok, err := s.HasAdmin(ctx)
	if err != nil || ok {
		return nil, err
	}
	b := make([]byte, setupCodeBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("making the setup code: %w", err)
	}
	return &Setup{svc: s, code: []byte(setupEncoding.EncodeToString(b))}, nil
}

// Code returns the setup code in groups of four characters
// (ABCD-EFGH-...), or "" once the setup is done.
func (st *Setup) Code() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var b strings.Builder
	for i, c := range st.code {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Open reports whether the setup can still be completed: its code is
// unused and no enabled admin user exists. Once an admin exists, however
// it was made, the code is void for good.
func (st *Setup) Open(ctx context.Context) (bool, error) {
	if st == nil {
		return false, nil
	}
	st.mu.Lock()
	done := st.code == nil
	st.mu.Unlock()
	if done {
		return false, nil
	}
	ok, err := st.svc.HasAdmin(ctx)
	if err != nil {
		return false, err
	}
	if ok {
		st.finish()
		return false, nil
	}
	return true, nil
}

// finish voids the code.
func (st *Setup) finish() {
	st.mu.Lock()
	clear(st.code)
	st.code = nil
	st.mu.Unlock()
}

// NormalizeSetupCode returns a code as typed in its canonical form: upper
// case, without the dashes and spaces it is shown or pasted with. It
// refuses a code longer than MaxSetupCodeLength.
func NormalizeSetupCode(typed string) ([]byte, error) {
	if len(typed) > MaxSetupCodeLength {
		return nil, fmt.Errorf("%w: longer than %d characters", ErrSetupCode, MaxSetupCodeLength)
	}
	out := make([]byte, 0, len(typed))
	for i := 0; i < len(typed); i++ {
		c := typed[i]
		switch {
		case c == '-' || c == ' ' || c == '\t':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return out, nil
}

// SetupRequest is what the setup form presents.
type SetupRequest struct {
	// Code is the setup code as typed.
	Code string
	// Username and Password are the first admin's.
	Username, Password string
	// Source is the client's address, for the throttle.
	Source netip.Addr
}

// Complete creates the first admin account if req holds the setup code,
// through AddUser (audited as user.create under c's actor, in the same
// transaction), and voids the code. Attempts are throttled by source with
// the login throttle, as sign-ins are: a refused one returns a
// *RefusedError and compares nothing; a wrong code (ErrSetupCode) counts
// as a failed sign-in of an unknown user from the source. The code is
// compared in constant time. A right code with a user name or password
// that may not be set returns that error and leaves the code valid.
// Complete returns ErrSetupDone when an enabled admin exists, even one
// made between the check and the insert by another process.
func (st *Setup) Complete(ctx context.Context, c Change, req SetupRequest) (User, error) {
	if open, err := st.Open(ctx); err != nil || !open {
		if err == nil {
			err = ErrSetupDone
		}
		return User{}, err
	}
	th := st.svc.throttle
	if err := th.Precheck(req.Source); err != nil {
		return User{}, err
	}
	res, err := th.Begin("", false, req.Source)
	if err != nil {
		return User{}, err
	}
	right := false
	defer func() { res.Done(right) }()
	got, err := NormalizeSetupCode(req.Code)
	if err != nil {
		return User{}, err
	}
	st.mu.Lock()
	want := st.code
	match := want != nil && subtle.ConstantTimeCompare(got, want) == 1
	st.mu.Unlock()
	if want == nil {
		right = true // not a guess: there is nothing left to guess
		return User{}, ErrSetupDone
	}
	if !match {
		return User{}, ErrSetupCode
	}
	right = true
	if err := validUsername(req.Username); err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrSetupName, err)
	}
	switch _, err := userByName(ctx, st.svc.db, req.Username); {
	case err == nil:
		// A disabled admin, or a user of another role: the setup makes a
		// new account rather than change one it knows nothing about.
		return User{}, fmt.Errorf("%w: user %q exists already; choose another name", ErrSetupName, req.Username)
	case !errors.Is(err, ErrNoUser):
		return User{}, err
	}
	if err := ValidatePassword(req.Password); err != nil {
		return User{}, err
	}
	st.mu.Lock()
	if st.busy || st.code == nil {
		st.mu.Unlock()
		return User{}, ErrSetupDone
	}
	st.busy = true
	st.mu.Unlock()
	u, err := st.svc.addUser(ctx, c, req.Username, req.Password, RoleAdmin, setupCheck(ctx))
	st.mu.Lock()
	st.busy = false
	st.mu.Unlock()
	if errors.Is(err, ErrSetupDone) {
		st.finish()
	}
	if err != nil {
		return User{}, err
	}
	st.finish()
	return u, nil
}

// setupCheck refuses, inside the setup's transaction, an admin account
// when another enabled admin exists: one made since Open looked, by
// another process (vigil user add --data) or request.
func setupCheck(ctx context.Context) func(tx *sql.Tx, u User) error {
	return func(tx *sql.Tx, u User) error {
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ? AND disabled = 0 AND id != ?`,
			string(RoleAdmin), u.ID).Scan(&others); err != nil {
			return fmt.Errorf("looking for an admin user: %w", err)
		}
		if others > 0 {
			return ErrSetupDone
		}
		return nil
	}
}
