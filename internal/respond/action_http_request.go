package respond

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ActionHTTPRequest calls a destination an admin configured
// (respond.http_destinations), named in with.destination; a playbook may
// give it a body (with.body, a JSON template), a person may not.
const ActionHTTPRequest Action = "http_request"

func init() {
	registerAction(actionSpec{name: ActionHTTPRequest, manual: true, check: checkHTTPRequest,
		do: func(ctx context.Context, r *Runner, c *actionCall) (string, string) {
			return r.httpRequest(ctx, c.s, c.d)
		}})
}

// checkHTTPRequest refuses a URL, method or headers of the step's own
// (they come from the destination), a body of a manual request, and a
// request without a destination.
func checkHTTPRequest(with map[string]string, manual bool) []error {
	var errs []error
	for _, k := range []string{"url", "method", "content_type", "headers"} {
		if _, ok := with[k]; ok {
			errs = append(errs, fmt.Errorf("with.%s: http_request calls a destination an admin configured (respond.http_destinations), named in with.destination; its URL, method and headers come from there", k))
		}
	}
	if manual {
		if _, ok := with["body"]; ok {
			errs = append(errs, errors.New("with.body: a manual http_request sends its destination's body"))
		}
	}
	if strings.TrimSpace(with["destination"]) == "" {
		errs = append(errs, errors.New("with.destination: http_request needs the name of a destination from respond.http_destinations"))
	}
	return errs
}
