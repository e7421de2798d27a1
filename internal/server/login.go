package server

import (
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/config"
)

// loginThrottle is the sign-in throttle of the login: section.
func loginThrottle(l config.Login) *auth.Throttle {
	return auth.NewThrottle(auth.LoginLimits{
		MaxHashing: l.MaxHashing, MaxHashingPerSource: l.MaxHashingPerSource,
		MaxFailures: l.MaxFailures, MaxSourceFailures: l.MaxSourceFailures, MaxUserFailures: l.MaxUserFailures,
		LockBase: l.LockBase, LockMax: l.LockMax, Forget: l.Forget, Remember: l.Remember, MaxEntries: l.MaxEntries,
	}, nil)
}
