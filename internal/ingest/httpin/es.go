package httpin

import (
	"encoding/json"
	"net/http"
)

// DefaultESVersion is the Elasticsearch version Vigil presents by default.
// Filebeat and Logstash 8 refuse a cluster of an older major version, and
// the data-stream code paths of all shippers expect 8.x. Filebeat also
// refuses a cluster older than itself unless allow_older_versions is set;
// Config.ESVersion lets an operator present a newer version instead.
const DefaultESVersion = "8.11.0"

// esRootDoc returns the document GET / answers: what Filebeat, Logstash,
// Vector and the Elasticsearch clients read to decide the cluster's
// version and flavour.
func esRootDoc(version string) []byte {
	b, _ := json.Marshal(map[string]any{
		"name":         "vigil",
		"cluster_name": "vigil",
		"cluster_uuid": "dmlnaWwtdmlnaWwtdmln",
		"version": map[string]any{
			"number":                              version,
			"build_flavor":                        "default",
			"build_type":                          "docker",
			"build_hash":                          "0000000000000000000000000000000000000000",
			"build_date":                          "2023-11-04T10:04:57.184859352Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.8.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
	return append(b, '\n')
}

// esLicense answers GET /_license (Logstash and Beats check for a license
// before using ILM features).
const esLicense = `{"license":{"status":"active","uid":"00000000-0000-0000-0000-000000000000","type":"basic","issue_date":"2023-01-01T00:00:00.000Z","issue_date_in_millis":1672531200000,"max_nodes":1000,"max_resource_units":null,"issued_to":"vigil","issuer":"elasticsearch","start_date_in_millis":-1}}` + "\n"

// esXpack answers GET /_xpack (Logstash's ILM check reads features.ilm).
const esXpack = `{"build":{"hash":"0000000000000000000000000000000000000000","date":"2023-11-04T10:04:57.184859352Z"},"license":{"uid":"00000000-0000-0000-0000-000000000000","type":"basic","mode":"basic","status":"active"},"features":{"ilm":{"available":true,"enabled":true},"security":{"available":true,"enabled":true}},"tagline":"You know, for X"}` + "\n"

const esHealth = `{"cluster_name":"vigil","status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"active_primary_shards":0,"active_shards":0,"relocating_shards":0,"initializing_shards":0,"unassigned_shards":0,"delayed_unassigned_shards":0,"number_of_pending_tasks":0,"number_of_in_flight_fetch":0,"task_max_waiting_in_queue_millis":0,"active_shards_percent_as_number":100.0}` + "\n"

const esAck = `{"acknowledged":true}` + "\n"

type esErrorBody struct {
	Error  esErrorDetail `json:"error"`
	Status int           `json:"status"`
}

type esErrorDetail struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// esFail answers in Elasticsearch's error shape.
func esFail(w http.ResponseWriter, status int, typ, reason string) {
	setRetry(w, status)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="vigil", ApiKey, Bearer realm="vigil"`)
	}
	writeJSON(w, status, esErrorBody{esErrorDetail{typ, reason}, status})
}

// esAuth authenticates an Elasticsearch API request, answering failures in
// ES's shape.
func (h *Handlers) esAuth(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	p, st := h.authenticate(r, InputBulk)
	if st == authOK {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		return p, true
	}
	status, msg := authFailure(st)
	typ := "security_exception"
	esFail(w, status, typ, msg)
	return p, false
}

// registerES mounts the bulk endpoints and the calls shippers make at
// startup. The setup calls (templates, ILM policies, ingest pipelines, data
// streams) are acknowledged without effect: Vigil has no indices, and
// answering them lets Filebeat, Logstash, Vector and Fluent Bit proceed with
// their default configurations.
//
//	GET|HEAD /                                 version document
//	GET /_license, GET /_xpack                 basic license, ILM available
//	GET /_cluster/health                       green (Vector's health check)
//	GET|HEAD /_index_template/{name}           exists
//	PUT /_index_template/{name}                acknowledged
//	GET|HEAD|PUT /_template/{name}             legacy templates, same
//	GET|HEAD|PUT /_component_template/{name}   same
//	GET|HEAD|PUT /_ilm/policy/{name}           same
//	GET|HEAD|PUT /_ingest/pipeline/{name}      same
//	GET|HEAD|PUT /_data_stream/{name}          same
//
// Templates and policies are answered as existing, so shippers whose
// "overwrite" setting is off do not try to install them; with overwrite on,
// the PUT is acknowledged.
func (h *Handlers) registerES(mux *http.ServeMux) {
	mux.HandleFunc("POST /_bulk", h.bulk)
	mux.HandleFunc("PUT /_bulk", h.bulk)
	mux.HandleFunc("POST /{index}/_bulk", h.bulk)
	if !h.cfg.NoRoot {
		mux.HandleFunc("GET /{$}", h.Root)
	}
	mux.HandleFunc("GET /_license", h.esStatic(esLicense))
	mux.HandleFunc("GET /_xpack", h.esStatic(esXpack))
	mux.HandleFunc("GET /_cluster/health", h.esStatic(esHealth))
	for _, kind := range []string{"_index_template", "_template", "_component_template", "_ilm/policy", "_ingest/pipeline", "_data_stream"} {
		mux.HandleFunc("GET /"+kind+"/{name}", h.esExists(kind))
		mux.HandleFunc("PUT /"+kind+"/{name}", h.esStatic(esAck))
	}
}

// Root answers GET and HEAD / with the Elasticsearch version document
// that shippers read at startup, after authenticating them. It is mounted
// at / unless Config.NoRoot is set.
func (h *Handlers) Root(w http.ResponseWriter, r *http.Request) {
	h.esStatic(string(esRootDoc(h.cfg.ESVersion)))(w, r)
}

// esStatic answers with a fixed JSON document after authenticating.
func (h *Handlers) esStatic(doc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.esAuth(w, r); !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write([]byte(doc))
		}
	}
}

// esExists answers a GET of a setup object as existing, in the shape of
// its API.
func (h *Handlers) esExists(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := h.esAuth(w, r); !ok {
			return
		}
		name := r.PathValue("name")
		var doc any
		switch kind {
		case "_index_template":
			doc = map[string]any{"index_templates": []any{map[string]any{
				"name": name,
				"index_template": map[string]any{
					"index_patterns": []string{name + "-*"},
					"composed_of":    []string{},
					"data_stream":    map[string]any{},
				},
			}}}
		case "_component_template":
			doc = map[string]any{"component_templates": []any{map[string]any{
				"name": name, "component_template": map[string]any{"template": map[string]any{}},
			}}}
		case "_data_stream":
			doc = map[string]any{"data_streams": []any{map[string]any{
				"name": name, "timestamp_field": map[string]string{"name": "@timestamp"},
				"indices": []any{}, "generation": 1, "status": "GREEN", "template": name,
			}}}
		case "_ilm/policy":
			doc = map[string]any{name: map[string]any{"version": 1, "modified_date": "2023-01-01T00:00:00.000Z", "policy": map[string]any{"phases": map[string]any{}}}}
		case "_template":
			doc = map[string]any{name: map[string]any{"order": 1, "index_patterns": []string{name + "-*"}, "settings": map[string]any{}, "mappings": map[string]any{}, "aliases": map[string]any{}}}
		default:
			doc = map[string]any{name: map[string]any{}}
		}
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, http.StatusOK, doc)
	}
}
