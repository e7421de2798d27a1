package egress

// Config is the egress section of the server's configuration (egress: in
// YAML): the policy of Vigil's outbound connections (http_request,
// notification routes, intel feeds, rule downloads). Loopback, private,
// shared (CGNAT), link-local (cloud metadata), unspecified, multicast and
// reserved addresses are refused unless listed in Allow. New builds the
// Policy and reports what is wrong with the section.
type Config struct {
	// Allow lists addresses and CIDR prefixes Vigil may connect to
	// although they are internal (default none).
	Allow []string `koanf:"allow"`
}
