package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// prepareFirstRun makes the first-run setup when no enabled admin user
// exists (nil otherwise): the console serves it at /setup.
func (s *Server) prepareFirstRun(ctx context.Context) error {
	setup, err := s.Auth.NewSetup(ctx)
	if err != nil {
		return fmt.Errorf("first-run setup: %w", err)
	}
	s.setup = setup
	return nil
}

// announceFirstRun prints the setup code with the URL of the setup page,
// once the HTTP listener is bound, and warns when nothing at all can get
// in: no admin account and no bootstrap token. Whoever reads the server's
// log may create the first admin; the code works once, in this process
// only, and never while an admin exists (then it is neither made nor
// printed).
func (s *Server) announceFirstRun(addr net.Addr, https bool) {
	if s.setup == nil {
		return
	}
	s.log.Warn(fmt.Sprintf("first run: no admin account yet; open %s and enter the code %s (or run: vigil user add NAME --role admin --data %s)",
		setupURL(addr, https), s.setup.Code(), s.cfg.Data))
	if s.cfg.BootstrapToken == "" {
		s.log.Warn("no admin account and no bootstrap token: nobody can sign in to the console or call the API until the first-run setup is done or an admin is added with vigil user add")
	}
}

// setupURL is the setup page's URL on the listener bound at addr. An
// unspecified address (0.0.0.0, ::) is shown as localhost, where a
// browser on the server's machine reaches it.
func setupURL(addr net.Addr, https bool) string {
	scheme := "http"
	if https {
		scheme = "https"
	}
	host := addr.String()
	if ap, err := netip.ParseAddrPort(host); err == nil {
		if ap.Addr().IsUnspecified() {
			host = net.JoinHostPort("localhost", fmt.Sprint(ap.Port()))
		}
	}
	return scheme + "://" + host + "/setup"
}
