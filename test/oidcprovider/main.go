// Command oidcprovider is a real OpenID provider for Vigil's single sign-on
// tests: the example provider of github.com/zitadel/oidc/v3 (its in-memory
// storage, its login page and its test users, "test-user@<host>" and
// "test-user2", both with the password "verysecure"), with one client for
// Vigil and a "groups" claim added to what its userinfo endpoint answers,
// so that a test can map a group to a Vigil role.
//
// It listens on -addr (port 0 picks a free one) and prints one line to
// standard output once it serves, "issuer <URL>", the issuer URL to
// configure (with its trailing slash, as the discovery document says it).
//
//	oidcprovider -addr 127.0.0.1:0 -redirect http://127.0.0.1:8080/auth/oidc/callback \
//	    -client vigil -secret s3cret -groups 'id1=vigil-analysts;id2=contractors'
//
// It is a test tool: the users, their passwords and the signing of the
// encryption key are the example's, fixed and public.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: a free one)")
	redirect := flag.String("redirect", "", "the client's redirect URL (required)")
	client := flag.String("client", "vigil", "client id")
	secret := flag.String("secret", "vigil-test-secret", "client secret")
	groups := flag.String("groups", "", "groups of users by id: 'id1=a,b;id2=c'")
	flag.Parse()
	if err := run(*addr, *redirect, *client, *secret, *groups); err != nil {
		fmt.Fprintln(os.Stderr, "oidcprovider:", err)
		os.Exit(1)
	}
}

func run(addr, redirect, client, secret, groupSpec string) error {
	if redirect == "" {
		return errors.New("-redirect is required")
	}
	groups, err := parseGroups(groupSpec)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %q: %w", addr, err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	storage.RegisterClients(storage.WebClient(client, secret, redirect))
	st := &groupStorage{Storage: storage.NewStorage(storage.NewUserStore(issuer)), groups: groups}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, st, log, false)
	srv := &http.Server{Handler: router}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Printf("issuer %s\n", issuer)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseGroups reads "id1=a,b;id2=c".
func parseGroups(spec string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(spec, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		id, list, ok := strings.Cut(part, "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("-groups: %q is not id=group,group", part)
		}
		out[id] = strings.Split(list, ",")
	}
	return out, nil
}

// groupStorage is the example's storage with a "groups" claim in the
// userinfo answer.
type groupStorage struct {
	*storage.Storage
	groups map[string][]string
}

// SetUserinfoFromToken answers the userinfo endpoint: the example's claims
// and the user's groups.
func (s *groupStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	if g, ok := s.groups[info.Subject]; ok {
		info.AppendClaims("groups", g)
	}
	return nil
}
