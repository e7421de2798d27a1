package api

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/vigilsec/vigil/internal/auth"
)

// maxLocksListed bounds GET /api/v1/login/locks; total says how many there
// are.
const maxLocksListed = 1000

// registerLogin mounts the sign-in throttle's admin endpoints: the locks
// in force, and lifting them.
func (a *API) registerLogin(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/login/locks", a.Require(auth.PermAdmin, http.HandlerFunc(a.listLoginLocks)))
	mux.Handle("POST /api/v1/login/unlock", a.Require(auth.PermAdmin, http.HandlerFunc(a.unlockLogin)))
}

func (a *API) listLoginLocks(w http.ResponseWriter, r *http.Request) {
	locks, total := a.o.Auth.LoginThrottle().Locks(maxLocksListed)
	if locks == nil {
		locks = []auth.Lock{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"locks": locks, "total": total})
}

// unlockLogin lifts the sign-in locks of a user, of a source, or both
// (POST /api/v1/login/unlock {"user": "alice", "source": "192.0.2.7"}).
func (a *API) unlockLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User   string `json:"user"`
		Source string `json:"source"`
	}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.User == "" && req.Source == "" {
		writeError(w, http.StatusBadRequest, "give user, source or both")
		return
	}
	if len(req.User) > 64 && req.User != auth.UnknownUsers {
		writeError(w, http.StatusBadRequest, "user: longer than any user name (64 characters)")
		return
	}
	var src netip.Addr
	if req.Source != "" {
		var err error
		if strings.Contains(req.Source, "%") {
			writeError(w, http.StatusBadRequest, "source: an address without a zone")
			return
		}
		if src, err = netip.ParseAddr(req.Source); err != nil {
			writeError(w, http.StatusBadRequest, "source: "+err.Error())
			return
		}
	}
	lifted := a.o.Auth.LoginThrottle().Unlock(req.User, src)
	target := req.User
	if target == "" {
		target = req.Source
	}
	a.audit(r, "login.unlock", target, nil, map[string]any{"user": req.User, "source": req.Source, "lifted": lifted})
	writeJSON(w, http.StatusOK, map[string]int{"lifted": lifted})
}
