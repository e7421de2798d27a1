package server

import (
	"net/http"

	"github.com/vigilsec/vigil/internal/api"
)

// registerConsole mounts the web console on mux. The console lands in
// internal/web; until then the server serves the API only.
func (s *Server) registerConsole(mux *http.ServeMux, a *api.API) {}
