package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/vigilsec/vigil/internal/auth"
)

// registerUsers mounts the user changes beyond GET and POST
// /api/v1/users (which Register mounts).
func (a *API) registerUsers(mux *http.ServeMux) {
	mux.Handle("PATCH /api/v1/users/{username}", a.Require(auth.PermAdmin, http.HandlerFunc(a.updateUser)))
}

// maxUserPatch bounds the body of PATCH /api/v1/users/{username}: a
// password of at most auth.MaxPasswordLength bytes, each escaped as \uXXXX
// at worst, and the other two fields.
const maxUserPatch = 8 << 10

// parseUserPatch reads the body of PATCH /api/v1/users/{username}:
// {"password": "...", "disabled": true|false, "role": "..."}, each
// optional but at least one given, and no other field. Everything but the
// user's existence and the last-admin rule is checked here, so that the
// handler can tell a bad request from a failure of its own.
func parseUserPatch(body io.Reader) (auth.UserUpdate, error) {
	var req struct {
		Password *string `json:"password"`
		Disabled *bool   `json:"disabled"`
		Role     *string `json:"role"`
	}
	b, err := io.ReadAll(io.LimitReader(body, maxUserPatch+1))
	if err != nil {
		return auth.UserUpdate{}, fmt.Errorf("reading the body: %w", err)
	}
	if len(b) > maxUserPatch {
		return auth.UserUpdate{}, fmt.Errorf("body larger than %d bytes", maxUserPatch)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return auth.UserUpdate{}, fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return auth.UserUpdate{}, errors.New("invalid JSON body: more than one value")
	}
	up := auth.UserUpdate{Password: req.Password, Disabled: req.Disabled}
	if up.Password == nil && up.Disabled == nil && req.Role == nil {
		return auth.UserUpdate{}, errors.New(`nothing to change: give "password", "disabled" or "role"`)
	}
	if up.Password != nil {
		if err := auth.ValidatePassword(*up.Password); err != nil {
			return auth.UserUpdate{}, err
		}
	}
	if req.Role != nil {
		role, err := auth.ParseRole(*req.Role)
		if err != nil {
			return auth.UserUpdate{}, err
		}
		if role == auth.RoleIngest {
			return auth.UserUpdate{}, errors.New("role ingest is for tokens, not people (want admin, analyst or viewer)")
		}
		up.Role = &role
	}
	return up, nil
}

// updateUser answers PATCH /api/v1/users/{username}: a new password (a
// reset by an admin), disabling or enabling, a new role. A new password or
// disabling ends the user's console sessions. The change and its audit
// entry (user.update, never the password) commit together.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	up, err := parseUserPatch(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c := auth.Change{Actor: actor(r)}
	if a.o.Audit != nil {
		c.Audit = a.o.Audit.RecordTx
	}
	res, err := a.o.Auth.UpdateUser(r.Context(), c, r.PathValue("username"), up)
	switch {
	case errors.Is(err, auth.ErrNoUser):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, auth.ErrLastAdmin), errors.Is(err, auth.ErrSSOUser):
		writeError(w, http.StatusConflict, err.Error())
		return
	case errors.Is(err, auth.ErrPasswordPolicy):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		a.o.Log.Error("updating user", "err", err)
		writeError(w, http.StatusInternalServerError, "updating the user failed")
		return
	}
	writeJSON(w, http.StatusOK, res)
}
