package notify

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vigilsec/vigil/internal/redact"
)

// Auditor records a change made through the route API under the caller's
// name, as the console records its own: action is route.create,
// route.update, route.delete or route.test, target the route's id, before
// and after the route as Masked shows it (or nil).
type Auditor func(r *http.Request, action, target string, before, after any)

// restoreURL returns the URL a route update means: the stored one when
// the update sends back the masked form of it (secrets are write-only: an
// admin reads them masked and may send the route back as read), the sent
// one otherwise. A sent URL that still holds the mask but differs from
// the masked stored URL is refused: it would store the mask as a secret.
func restoreURL(sent, stored string) (string, error) {
	if sent == stored {
		return stored, nil
	}
	if sent == redact.URL(stored) {
		return stored, nil
	}
	if strings.Contains(sent, redact.Mask) {
		return "", &invalidError{fmt.Sprintf("url: holds %q, the mask of a stored secret, but is not the stored URL as masked; send the whole URL with its secrets", redact.Mask)}
	}
	return sent, nil
}
