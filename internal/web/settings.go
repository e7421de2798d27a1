package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/notify"
	"github.com/vigilsec/vigil/internal/respond"
	"github.com/vigilsec/vigil/internal/sigma"
	"github.com/vigilsec/vigil/internal/timeparse"
)

// roleInfo describes what a role may do, as the API checks it.
type roleInfo struct {
	Role                       auth.Role
	Ingest, Read, Write, Admin bool
}

type settingsData struct {
	RoleTable    []roleInfo
	Users        []auth.User
	Tokens       []auth.Token
	Roles        []auth.Role
	TokenRoles   []auth.Role // the token form's, least powerful first
	Sessions     sessionsData
	NewToken     string
	Routes       []notify.Route
	Playbooks    []*respond.Playbook
	Suppressions []alert.Suppression
	Levels       []sigma.Level
	Intel        []intel.FeedStatus
	HasIntel     bool
}

func (c *Console) settingsData(r *http.Request, s *session) (settingsData, error) {
	ctx := r.Context()
	d := settingsData{Roles: []auth.Role{auth.RoleAdmin, auth.RoleAnalyst, auth.RoleViewer, auth.RoleIngest}, Levels: sigma.Levels}
	for _, ro := range d.Roles {
		d.RoleTable = append(d.RoleTable, roleInfo{Role: ro, Ingest: ro.Can(auth.PermIngest), Read: ro.Can(auth.PermRead),
			Write: ro.Can(auth.PermWrite), Admin: ro.Can(auth.PermAdmin)})
	}
	d.TokenRoles = auth.TokenRoles
	var err error
	if d.Sessions, err = c.sessionsData(r, s); err != nil {
		return d, err
	}
	if s.Role.Can(auth.PermAdmin) {
		if d.Users, err = c.o.Auth.ListUsers(ctx); err != nil {
			return d, err
		}
		if d.Tokens, err = c.o.Auth.ListTokens(ctx); err != nil {
			return d, err
		}
	}
	if c.o.Notifier != nil {
		rs, err := c.o.Notifier.ListRoutes(ctx)
		if err != nil {
			return d, err
		}
		for _, rt := range rs {
			d.Routes = append(d.Routes, rt.Masked())
		}
	}
	if c.o.Runner != nil {
		for _, p := range c.o.Runner.Playbooks() {
			d.Playbooks = append(d.Playbooks, p.Masked()) // as the API shows them
		}
	}
	if c.o.Alerts != nil {
		if d.Suppressions, err = c.o.Alerts.ListSuppressions(ctx); err != nil {
			return d, err
		}
	}
	if c.o.Intel != nil {
		d.HasIntel = true
		d.Intel = c.o.Intel.Status()
	}
	return d, nil
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	d, err := c.settingsData(r, s)
	if err != nil {
		c.fail(w, err)
		return
	}
	c.show(w, r, s, "settings", "Settings", d, start)
}

func (c *Console) settingsUser(w http.ResponseWriter, r *http.Request, s *session) {
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err == nil {
		var u auth.User
		u, err = c.o.Auth.CreateUser(r.Context(), strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password"), role)
		if err == nil {
			c.audit(r.Context(), s.Username, "user.create", u.ID, u)
		}
	}
	back(w, r, "/settings#users", "User created.", err)
}

func (c *Console) settingsUserState(w http.ResponseWriter, r *http.Request, s *session) {
	disable := r.PostFormValue("disabled") == "true"
	err := c.setUserDisabled(r.Context(), s, r.PathValue("id"), disable)
	back(w, r, "/settings#users", "User updated.", err)
}

func (c *Console) settingsToken(w http.ResponseWriter, r *http.Request, s *session) {
	start := time.Now()
	role, err := auth.ParseTokenRole(r.PostFormValue("role"))
	var expires time.Time
	if err == nil && r.PostFormValue("expires") != "" {
		var dur time.Duration
		if dur, err = timeparse.Duration(r.PostFormValue("expires")); err == nil {
			expires = c.o.Now().Add(dur)
		}
	}
	if err != nil {
		back(w, r, "/settings#tokens", "", err)
		return
	}
	var tags []string
	for _, t := range strings.Split(r.PostFormValue("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	secret, tok, err := c.o.Auth.CreateToken(r.Context(), strings.TrimSpace(r.PostFormValue("name")), role, tags, expires)
	if err != nil {
		back(w, r, "/settings#tokens", "", err)
		return
	}
	c.audit(r.Context(), s.Username, "token.create", tok.ID, tok)
	// The secret is shown once, in this response; it is never stored.
	d, err := c.settingsData(r, s)
	if err != nil {
		c.fail(w, err)
		return
	}
	d.NewToken = secret
	v := c.newView(r, s, "settings", "Settings", d)
	v.Msg = "Token " + tok.Name + " created. Copy it now: it is not shown again."
	v.Took = time.Since(start)
	c.tmpl.render(w, http.StatusOK, "settings", v)
}

func (c *Console) settingsTokenRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	err := c.o.Auth.RevokeToken(r.Context(), id)
	if err == nil {
		c.audit(r.Context(), s.Username, "token.revoke", id, nil)
	}
	back(w, r, "/settings#tokens", "Token revoked.", err)
}

func (c *Console) settingsRoute(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Notifier == nil {
		back(w, r, "/settings#routes", "", errors.New("notifications are not available"))
		return
	}
	rt := notify.Route{
		Name: strings.TrimSpace(r.PostFormValue("name")), Type: r.PostFormValue("type"), URL: strings.TrimSpace(r.PostFormValue("url")),
		Secret: r.PostFormValue("secret"), MinLevel: r.PostFormValue("min_level"), Enabled: true,
	}
	for _, t := range strings.Split(r.PostFormValue("tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			rt.Tags = append(rt.Tags, t)
		}
	}
	created, err := c.o.Notifier.CreateRoute(r.Context(), rt)
	if err == nil {
		c.audit(r.Context(), s.Username, "route.create", created.ID, created.Masked())
	}
	back(w, r, "/settings#routes", "Route created.", err)
}

func (c *Console) settingsRouteDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Notifier == nil {
		http.NotFound(w, r)
		return
	}
	id := r.PathValue("id")
	err := c.o.Notifier.DeleteRoute(r.Context(), id)
	if err == nil {
		c.audit(r.Context(), s.Username, "route.delete", id, nil)
	}
	back(w, r, "/settings#routes", "Route deleted.", err)
}

// settingsRouteToggle enables or disables a route, keeping the rest of it
// (secrets included) as it is.
func (c *Console) settingsRouteToggle(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Notifier == nil {
		http.NotFound(w, r)
		return
	}
	rt, err := c.o.Notifier.GetRoute(r.Context(), r.PathValue("id"))
	if err == nil {
		rt.Enabled = r.PostFormValue("enabled") == "true"
		rt, err = c.o.Notifier.UpdateRoute(r.Context(), rt)
	}
	if err == nil {
		c.audit(r.Context(), s.Username, "route.update", rt.ID, rt.Masked())
	}
	back(w, r, "/settings#routes", "Route updated.", err)
}

func (c *Console) settingsRouteTest(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Notifier == nil {
		http.NotFound(w, r)
		return
	}
	err := c.o.Notifier.Test(r.Context(), r.PathValue("id"))
	if !errors.Is(err, notify.ErrNotFound) {
		// A test sends a message: recorded whether it was delivered or not,
		// as the API records it.
		c.audit(r.Context(), s.Username, "route.test", r.PathValue("id"), map[string]bool{"delivered": err == nil})
	}
	back(w, r, "/settings#routes", "Test notification queued.", err)
}

func (c *Console) settingsPlaybooksReload(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.ReloadPlaybooks == nil {
		back(w, r, "/settings#playbooks", "", errors.New("playbooks cannot be reloaded here"))
		return
	}
	err := c.o.ReloadPlaybooks()
	if err == nil {
		c.audit(r.Context(), s.Username, "playbooks.reload", "playbooks", nil)
	}
	back(w, r, "/settings#playbooks", "Playbooks reloaded.", err)
}

func (c *Console) settingsSuppression(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Recorder == nil {
		back(w, r, "/settings#suppressions", "", errors.New("suppressions are not available"))
		return
	}
	sp := &alert.Suppression{RuleID: strings.TrimSpace(r.PostFormValue("rule_id")), Query: r.PostFormValue("query"),
		Reason: strings.TrimSpace(r.PostFormValue("reason")), Author: s.Username}
	if e := r.PostFormValue("expires"); e != "" {
		d, err := timeparse.Duration(e)
		if err != nil || d <= 0 {
			back(w, r, "/settings#suppressions", "", fmt.Errorf("expires: want a duration such as 7d"))
			return
		}
		sp.Expires = c.o.Now().Add(d)
	}
	err := c.o.Recorder.AddSuppression(r.Context(), sp, s.Role.Can(auth.PermAdmin))
	if err == nil {
		c.audit(r.Context(), s.Username, "suppression.create", sp.ID, sp)
	}
	back(w, r, "/settings#suppressions", "Suppression added.", err)
}

func (c *Console) settingsSuppressionDelete(w http.ResponseWriter, r *http.Request, s *session) {
	if c.o.Recorder == nil {
		http.NotFound(w, r)
		return
	}
	id := r.PathValue("id")
	err := c.o.Recorder.RemoveSuppression(r.Context(), id)
	if err == nil {
		c.audit(r.Context(), s.Username, "suppression.delete", id, nil)
	}
	back(w, r, "/settings#suppressions", "Suppression removed.", err)
}
