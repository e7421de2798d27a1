package respond

import (
	"errors"
	"fmt"
	"os"

	"github.com/vigilsec/vigil/internal/egress"
	"github.com/vigilsec/vigil/internal/shellsafe"
)

// Config is the respond section of the server's configuration (respond:
// in YAML): what response actions run. Playbooks are read from
// DATA/playbooks besides the built-in ones. The zero Config is the
// default: no command, nothing blocked but by a configured command.
type Config struct {
	// Commands maps an action (block_ip, unblock_ip, disable_user) to the
	// command it runs, as a list of arguments that may use {{.Target}},
	// {{.TTL}}, {{.TTLSeconds}}, {{.Incident}}, {{.Rule}}. No shell is
	// involved; targets are validated before they reach a command.
	Commands map[string][]string `koanf:"commands"`
	// BatchCommands maps block_ip and unblock_ip to a command run once per
	// batch of up to 500 addresses, which it reads on standard input,
	// one rendered Line each (default "{{.Target}}"): a wave of thousands
	// of addresses is a few set updates. For nftables: argv
	// ["nft", "-f", "-"], line
	// "add element inet filter vigil_block { {{.Target}} timeout {{.TTLSeconds}}s }".
	BatchCommands map[string]BatchCommand `koanf:"batch_commands"`
	// NeverBlock lists addresses and prefixes block_ip must never block
	// (loopback is always included).
	NeverBlock []string `koanf:"never_block"`
	// GeoIPDB and ASNDB are MaxMind DB files (GeoIP2/GeoLite2 City or
	// Country, and ASN) for the enrich_geoip playbook step.
	GeoIPDB string `koanf:"geoip_db"`
	ASNDB   string `koanf:"asn_db"`
	// HTTPDestinations are the endpoints the http_request action may call,
	// by name: playbooks and analysts choose one (with.destination), they
	// never give a URL.
	HTTPDestinations map[string]Destination `koanf:"http_destinations"`
}

// Validate reports every problem of the section, one error per problem
// named by its key. policy is the egress policy the http_request
// destinations must pass (nil: not checked, the egress section being
// invalid itself).
func (c Config) Validate(policy *egress.Policy) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for action, argv := range c.Commands {
		if !Action(action).TakesCommand() {
			add("commands.%s: unknown action (want %s)", action, ListActions(CommandActions(), "or"))
		}
		if len(argv) == 0 || argv[0] == "" {
			add("commands.%s: empty command", action)
		} else if err := shellsafe.CheckArgv("commands."+action, argv); err != nil {
			errs = append(errs, err)
		}
	}
	for action, bc := range c.BatchCommands {
		if len(bc.Argv) > 0 {
			if err := shellsafe.CheckArgv("batch_commands."+action+".argv", bc.Argv); err != nil {
				errs = append(errs, err)
			}
		}
		if err := shellsafe.CheckLine("batch_commands."+action+".line", bc.Line); err != nil {
			errs = append(errs, err)
		}
	}
	for name, p := range map[string]string{"geoip_db": c.GeoIPDB, "asn_db": c.ASNDB} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			add("%s: %w", name, err)
		}
	}
	if policy != nil {
		for name, d := range c.HTTPDestinations {
			if err := CheckDestination(name, d, policy); err != nil {
				add("http_destinations: %w", err)
			}
		}
	}
	return errors.Join(errs...)
}
