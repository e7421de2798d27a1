package auth

import (
	"errors"
	"fmt"
)

// TokenRoles are the roles a token may have, least powerful first: the
// order forms offer them in.
var TokenRoles = []Role{RoleIngest, RoleViewer, RoleAnalyst, RoleAdmin}

// ErrRoleRequired refuses a token without a role: a token never gets a
// role nobody chose (the console's token form used to preselect admin).
var ErrRoleRequired = errors.New("role is required: one of ingest, viewer, analyst, admin")

// ParseTokenRole validates the role asked for a new token: it must be
// given (ErrRoleRequired) and be one of TokenRoles.
func ParseTokenRole(s string) (Role, error) {
	if s == "" {
		return "", ErrRoleRequired
	}
	for _, r := range TokenRoles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %.40q: want one of ingest, viewer, analyst, admin", s)
}
