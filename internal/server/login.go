package server

import (
	"github.com/vigilsec/vigil/internal/auth"
)

// loginThrottle is the sign-in throttle of the login: section.
func loginThrottle(l auth.LoginConfig) *auth.Throttle {
	return auth.NewThrottle(l.LoginLimits, nil)
}
