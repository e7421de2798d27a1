package web

import "net/http"

//go:generate go run gen_favicon.go

// serveFavicon answers /favicon.ico, which browsers ask for whatever the
// page links: the console's icon (static/favicon.ico, drawn by
// gen_favicon.go from static/favicon.svg). Like the other static files,
// it needs no session.
func (c *Console) serveFavicon(w http.ResponseWriter, r *http.Request) {
	b, err := staticFS.ReadFile("static/favicon.ico")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}
