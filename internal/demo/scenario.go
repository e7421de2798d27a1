package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// The cast. Hosts are made up; addresses are in the documentation ranges.
const (
	webHost     = "shop-web01"             // public nginx server
	bastionHost = "bastion01"              // SSH jump host
	winHost     = "FIN-WS042.corp.example" // a finance workstation
	winIP       = "192.0.2.87"

	scannerIP = "203.0.113.77"  // content discovery scanner
	bruteIP   = "198.51.100.14" // SSH brute forcer, later logged in as deploy
	payloadIP = "198.51.100.23" // serves the PowerShell stage
	monitorIP = "192.0.2.5"     // uptime monitor
	aliceIP   = "192.0.2.10"    // administrators' workstations
	bobIP     = "192.0.2.11"
)

// Scenario steps, in the order of the intrusion; Run logs each as it starts.
const (
	stepWebScan    = "web content scanning and path traversal on " + webHost
	stepBrute      = "SSH brute force on " + bastionHost
	stepLogin      = "SSH login as deploy after the brute force"
	stepPrivesc    = "privilege escalation with sudo on " + bastionHost
	stepPersist    = "new administrator account support2 on " + bastionHost
	stepPowerShell = "PowerShell download cradle on " + winHost
)

// Syslog priorities (facility*8 + severity) as the programs log them.
const (
	priAuthInfo       = 4*8 + 6  // sshd, useradd, usermod, systemd-logind
	priAuthprivInfo   = 10*8 + 6 // pam_unix
	priAuthprivNotice = 10*8 + 5 // sudo, passwd, su
	priAuthprivAlert  = 10*8 + 1 // sudo policy failures
	priCronInfo       = 9*8 + 6
	priLocal7Info     = 23*8 + 6 // nginx access log over syslog
)

// item is one scenario message with its event time.
type item struct {
	at  time.Time
	raw ingest.Raw
	// phase names the attack step the message belongs to ("" for noise).
	phase string
	// barrier asks Run to have everything before it stored first.
	barrier bool
}

// gen accumulates the scenario.
type gen struct {
	rng    *rand.Rand
	items  []item
	phase  string
	pid    int // next process id on the Linux hosts
	record int // next Windows EventRecordID
}

// build returns the scenario's items ending at now, sorted by event time.
func build(now time.Time) []item {
	g := &gen{rng: rand.New(rand.NewPCG(0x5eed, 0xd3e0)), pid: 24100, record: 118200, items: make([]item, 0, 1024)}
	base := now.Add(-Span)
	at := func(d time.Duration) time.Time { return base.Add(d) }

	g.background(base, now)
	g.webScan(at(1 * time.Minute))
	g.sshBruteForce(at(3*time.Minute + 30*time.Second))
	g.windows(at(2*time.Minute), at(9*time.Minute+10*time.Second))

	slices.SortStableFunc(g.items, func(a, b item) int { return a.at.Compare(b.at) })
	return g.items
}

// jitter returns a random duration in [lo, hi).
func (g *gen) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
}

func (g *gen) nextPID() int {
	g.pid += 1 + g.rng.IntN(40)
	return g.pid
}

func (g *gen) port() int { return 32768 + g.rng.IntN(28000) }

func (g *gen) add(at time.Time, f ingest.Format, data []byte) *item {
	g.items = append(g.items, item{
		at:    at,
		phase: g.phase,
		raw: ingest.Raw{
			Data:     data,
			Format:   f,
			Input:    Input,
			Received: at,
			Tags:     []string{Tag},
		},
	})
	return &g.items[len(g.items)-1]
}

// syslog adds an RFC 3164 line: <PRI>Mmm dd hh:mm:ss host tag[pid]: msg,
// with the time in UTC. pid 0 leaves out the [pid].
func (g *gen) syslog(at time.Time, pri int, host, prog string, pid int, msg string) *item {
	b := make([]byte, 0, 64+len(msg))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, '>')
	b = at.UTC().AppendFormat(b, time.Stamp)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	b = append(b, prog...)
	if pid > 0 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	b = append(b, msg...)
	return g.add(at, ingest.FormatSyslog, b)
}

// nginx adds an access-log line in nginx's combined format, sent over
// syslog as nginx's access_log syslog: target writes it.
func (g *gen) nginx(at time.Time, client, method, uri string, status, size int, referrer, agent string) {
	msg := fmt.Sprintf("%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"%s\" \"%s\"",
		client, at.UTC().Format("02/Jan/2006:15:04:05 -0700"), method, uri, status, size, referrer, agent)
	g.syslog(at, priLocal7Info, webHost, "nginx", 0, msg)
}

// Browsers of the shop's customers (made-up but ordinary user agents).
var browsers = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
}

// A customer's visit: page views with their assets.
var visits = [][]struct {
	method, uri  string
	status, size int
}{
	{{"GET", "/", 200, 18342}, {"GET", "/static/css/shop.css", 200, 24511}, {"GET", "/static/js/app.js", 200, 88120}, {"GET", "/products/espresso-grinder-m2", 200, 21877}},
	{{"GET", "/products?category=kettles", 200, 30214}, {"GET", "/static/img/kettle-k7.webp", 200, 41288}, {"GET", "/products/gooseneck-kettle-k7", 200, 20931}, {"POST", "/api/cart", 200, 412}, {"GET", "/cart", 200, 9655}},
	{{"GET", "/login", 200, 7012}, {"POST", "/login", 302, 0}, {"GET", "/account/orders", 200, 11833}},
	{{"GET", "/", 304, 0}, {"GET", "/search?q=milk+frother", 200, 16402}, {"GET", "/products/milk-frother-f1", 200, 19544}, {"GET", "/static/img/frother-f1.webp", 200, 35110}},
	{{"GET", "/cart", 200, 9702}, {"GET", "/checkout", 200, 14021}, {"POST", "/api/checkout", 201, 268}, {"GET", "/checkout/thank-you", 200, 6120}},
}

// background adds the benign noise of every host from base to now: shop
// traffic, an uptime monitor, cron jobs, administrators' SSH sessions.
func (g *gen) background(base, now time.Time) {
	// Shop customers, one visit after another, each from its own address.
	for t := base; ; {
		v := visits[g.rng.IntN(len(visits))]
		client := "192.0.2." + strconv.Itoa(20+g.rng.IntN(40))
		agent := browsers[g.rng.IntN(len(browsers))]
		ref := "https://shop.example.com/"
		for _, r := range v {
			if t.After(now) {
				break
			}
			g.nginx(t, client, r.method, r.uri, r.status, r.size, ref, agent)
			ref = "https://shop.example.com" + r.uri
			t = t.Add(g.jitter(300*time.Millisecond, 4*time.Second))
		}
		t = t.Add(g.jitter(2*time.Second, 9*time.Second))
		if t.After(now) {
			break
		}
	}
	// The uptime monitor, every 30 s, ending with the scenario's last event.
	for t := now; !t.Before(base); t = t.Add(-30 * time.Second) {
		g.nginx(t, monitorIP, "GET", "/healthz", 200, 2, "-", "UptimeMonitor/2.4 (+https://status.example.net)")
	}

	// Cron on both Linux hosts, on the minute.
	// A run's last line comes up to 3 s after its start: stop in time.
	for t := base.Truncate(time.Minute).Add(time.Minute); !t.Add(3 * time.Second).After(now); t = t.Add(time.Minute) {
		g.cron(t, webHost, "www-data", 33, "php /var/www/shop/bin/console scheduler:run --quiet")
		if t.Minute()%5 == 0 {
			g.cron(t, bastionHost, "root", 0, "/usr/local/sbin/ship-auth-logs --since 5m")
		}
		if t.Minute() == 17 {
			g.cron(t, bastionHost, "root", 0, "cd / && run-parts --report /etc/cron.hourly")
		}
	}

	// Administrators using the bastion as intended.
	g.adminSession(base.Add(40*time.Second), base.Add(4*time.Minute+50*time.Second), "alice", 1000, aliceIP, 27,
		"SHA256:9dLk2mWq7cR0yTnB4vXs1aPe6fHu3jZo8iKg5lNbQwE", "/usr/bin/systemctl status nginx --no-pager")
	g.adminSession(base.Add(1*time.Minute+50*time.Second), base.Add(5*time.Minute+5*time.Second), "bob", 1002, bobIP, 29,
		"SHA256:Xq4Fz8Rb1nTv6yLw0cHs3mKd7pJe2gUa5iOt9vNr1sA", "/usr/bin/apt list --upgradable")
}

// cron adds what cron logs for one job run.
func (g *gen) cron(at time.Time, host, user string, uid int, cmd string) {
	pid := g.nextPID()
	g.syslog(at, priAuthprivInfo, host, "CRON", pid, fmt.Sprintf("pam_unix(cron:session): session opened for user %s(uid=%d) by (uid=0)", user, uid))
	g.syslog(at, priCronInfo, host, "CRON", pid, fmt.Sprintf("(%s) CMD (%s)", user, cmd))
	g.syslog(at.Add(g.jitter(200*time.Millisecond, 3*time.Second)), priAuthprivInfo, host, "CRON", pid, "pam_unix(cron:session): session closed for user "+user)
}

// adminSession adds a public-key SSH session on the bastion with one
// ordinary sudo command.
func (g *gen) adminSession(from, to time.Time, user string, uid int, ip string, session int, key, sudoCmd string) {
	pid, port := g.nextPID(), g.port()
	sess := strconv.Itoa(session)
	g.syslog(from, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: ED25519 %s", user, ip, port, key))
	g.syslog(from, priAuthprivInfo, bastionHost, "sshd", pid, fmt.Sprintf("pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", user, uid))
	g.syslog(from, priAuthInfo, bastionHost, "systemd-logind", 612, "New session "+sess+" of user "+user+".")
	mid := from.Add(to.Sub(from) / 3)
	g.syslog(mid, priAuthprivNotice, bastionHost, "sudo", 0, fmt.Sprintf("%8s : TTY=pts/1 ; PWD=/home/%s ; USER=root ; COMMAND=%s", user, user, sudoCmd))
	g.syslog(mid, priAuthprivInfo, bastionHost, "sudo", 0, fmt.Sprintf("pam_unix(sudo:session): session opened for user root(uid=0) by %s(uid=%d)", user, uid))
	g.syslog(mid.Add(2*time.Second), priAuthprivInfo, bastionHost, "sudo", 0, "pam_unix(sudo:session): session closed for user root")
	g.syslog(to, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Received disconnect from %s port %d:11: disconnected by user", ip, port))
	g.syslog(to, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Disconnected from user %s %s port %d", user, ip, port))
	g.syslog(to, priAuthprivInfo, bastionHost, "sshd", pid, "pam_unix(sshd:session): session closed for user "+user)
	g.syslog(to, priAuthInfo, bastionHost, "systemd-logind", 612, "Session "+sess+" logged out. Waiting for processes to exit.")
	g.syslog(to.Add(50*time.Millisecond), priAuthInfo, bastionHost, "systemd-logind", 612, "Removed session "+sess+".")
}

// scanPaths are what the scanner asks for first; scanWords are expanded
// with common suffixes after them.
var (
	scanPaths = []string{
		"/admin", "/.env", "/wp-login.php", "/phpmyadmin", "/administrator", "/admin.php", "/admin/login",
		"/wp-admin/", "/xmlrpc.php", "/phpMyAdmin", "/pma", "/.git/config", "/.git/HEAD", "/.svn/entries",
		"/.htaccess", "/.htpasswd", "/.env.bak", "/.env.production", "/api/.env", "/config.php", "/config.json",
		"/config.yml", "/phpinfo.php", "/info.php", "/server-status", "/console", "/manager/html", "/actuator",
		"/actuator/env", "/swagger.json", "/.aws/credentials", "/.DS_Store", "/cgi-bin/", "/web.config",
		"/composer.json", "/package.json", "/sftp-config.json", "/.ssh/id_rsa", "/database.yml", "/debug.log",
		"/error.log", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/robots.txt", "/sitemap.xml",
	}
	scanWords = []string{
		"admin", "backup", "login", "test", "old", "new", "dev", "staging", "private", "secret", "config",
		"data", "files", "tmp", "db", "sql", "dump", "shop", "store", "user", "users", "panel", "cms",
		"site", "web", "home", "install", "setup", "upload", "uploads", "dashboard", "portal", "webadmin",
	}
	scanSuffixes = []string{"", "/", ".php", ".bak", ".zip", ".old", ".txt"}
	// scanFound are the paths of the scan that exist (or are refused).
	scanFound = map[string]struct{ status, size int }{
		"/":            {200, 18342},
		"/robots.txt":  {200, 67},
		"/sitemap.xml": {200, 4410},
		"/login":       {200, 7012},
		"/.htaccess":   {403, 153},
		"/.htpasswd":   {403, 153},
		"/uploads":     {301, 169},
		"/uploads/":    {403, 153},
	}
)

const scannerAgent = "gobuster/3.6"

// webScan adds a content discovery scan of the shop from one address, with
// a path traversal attempt near its end.
func (g *gen) webScan(start time.Time) {
	g.phase = stepWebScan
	defer func() { g.phase = "" }()
	t := start
	g.nginx(t, scannerIP, "GET", "/", 200, 18342, "-", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	t = t.Add(4 * time.Second)
	paths := slices.Clone(scanPaths)
	for _, w := range scanWords {
		for _, s := range scanSuffixes {
			paths = append(paths, "/"+w+s)
		}
	}
	for i, p := range paths {
		st, ok := scanFound[p]
		if !ok {
			st.status, st.size = 404, 153
		}
		g.nginx(t, scannerIP, "GET", p, st.status, st.size, "-", scannerAgent)
		t = t.Add(g.jitter(120*time.Millisecond, 480*time.Millisecond))
		if i == len(paths)*3/4 {
			// The scanner found /static/ and tries to climb out of it.
			g.nginx(t, scannerIP, "GET", "/static/../../etc/passwd", 400, 157, "-", "curl/8.5.0")
			t = t.Add(900 * time.Millisecond)
			g.nginx(t, scannerIP, "GET", "/static/..%2f..%2f..%2fetc%2fpasswd", 404, 153, "-", "curl/8.5.0")
			t = t.Add(700 * time.Millisecond)
		}
	}
}

// sshBruteForce adds a password guessing run against the bastion from one
// address that ends with a successful login as deploy, followed by sudo to
// root and a new administrator account.
func (g *gen) sshBruteForce(start time.Time) {
	g.phase = stepBrute
	t := start
	users := []string{"root", "admin", "ubuntu"}
	for i := range 45 {
		user := users[i%len(users)]
		pid, port := g.nextPID(), g.port()
		if user == "root" {
			g.syslog(t, priAuthprivNotice, bastionHost, "sshd", pid, fmt.Sprintf("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=root", bruteIP))
			t = t.Add(g.jitter(1500*time.Millisecond, 2500*time.Millisecond))
			g.syslog(t, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Failed password for root from %s port %d ssh2", bruteIP, port))
			g.syslog(t.Add(300*time.Millisecond), priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Connection closed by authenticating user root %s port %d [preauth]", bruteIP, port))
		} else {
			g.syslog(t, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Invalid user %s from %s port %d", user, bruteIP, port))
			t = t.Add(g.jitter(1500*time.Millisecond, 2500*time.Millisecond))
			g.syslog(t, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Failed password for invalid user %s from %s port %d ssh2", user, bruteIP, port))
			g.syslog(t.Add(300*time.Millisecond), priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Connection closed by invalid user %s %s port %d [preauth]", user, bruteIP, port))
		}
		t = t.Add(g.jitter(400*time.Millisecond, 1200*time.Millisecond))
	}
	// The guesser moves on to a name it found on the web server, and the
	// third password is right.
	for range 2 {
		pid, port := g.nextPID(), g.port()
		g.syslog(t, priAuthprivNotice, bastionHost, "sshd", pid, fmt.Sprintf("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=%s  user=deploy", bruteIP))
		t = t.Add(g.jitter(1500*time.Millisecond, 2500*time.Millisecond))
		g.syslog(t, priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Failed password for deploy from %s port %d ssh2", bruteIP, port))
		g.syslog(t.Add(300*time.Millisecond), priAuthInfo, bastionHost, "sshd", pid, fmt.Sprintf("Connection closed by authenticating user deploy %s port %d [preauth]", bruteIP, port))
		t = t.Add(g.jitter(2*time.Second, 4*time.Second))
	}

	g.phase = stepLogin
	sshPID, sshPort := g.nextPID(), g.port()
	t = t.Add(6 * time.Second)
	g.syslog(t, priAuthInfo, bastionHost, "sshd", sshPID, fmt.Sprintf("Accepted password for deploy from %s port %d ssh2", bruteIP, sshPort)).barrier = true
	g.syslog(t, priAuthprivInfo, bastionHost, "sshd", sshPID, "pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)")
	g.syslog(t.Add(20*time.Millisecond), priAuthInfo, bastionHost, "systemd-logind", 612, "New session 31 of user deploy.")

	// deploy cannot sudo with its own password yet; the intruder first tries
	// the account whose password it found in deploy's shell history.
	g.phase = stepPrivesc
	t = t.Add(g.jitter(40*time.Second, 55*time.Second))
	suPID := g.nextPID()
	g.syslog(t, priAuthprivNotice, bastionHost, "su", suPID, "(to webadmin) deploy on pts/0")
	g.syslog(t, priAuthprivInfo, bastionHost, "su", suPID, "pam_unix(su:session): session opened for user webadmin(uid=1003) by deploy(uid=1001)")
	t = t.Add(g.jitter(8*time.Second, 15*time.Second))
	g.syslog(t, priAuthprivAlert, bastionHost, "sudo", 0, "webadmin : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/bash")
	t = t.Add(g.jitter(3*time.Second, 6*time.Second))
	g.syslog(t, priAuthprivInfo, bastionHost, "su", suPID, "pam_unix(su:session): session closed for user webadmin")
	t = t.Add(g.jitter(15*time.Second, 25*time.Second))
	g.syslog(t, priAuthprivNotice, bastionHost, "sudo", 0, "  deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/bash")
	g.syslog(t, priAuthprivInfo, bastionHost, "sudo", 0, "pam_unix(sudo:session): session opened for user root(uid=0) by deploy(uid=1001)")

	// As root: a new account that looks like the help desk's, in sudo.
	g.phase = stepPersist
	t = t.Add(g.jitter(20*time.Second, 30*time.Second))
	uaPID := g.nextPID()
	g.syslog(t, priAuthInfo, bastionHost, "useradd", uaPID, "new group: name=support2, GID=1004")
	g.syslog(t, priAuthInfo, bastionHost, "useradd", uaPID, "new user: name=support2, UID=1004, GID=1004, home=/home/support2, shell=/bin/bash, from=/dev/pts/0")
	t = t.Add(g.jitter(6*time.Second, 10*time.Second))
	g.syslog(t, priAuthprivNotice, bastionHost, "passwd", g.nextPID(), "pam_unix(passwd:chauthtok): password changed for support2")
	t = t.Add(g.jitter(5*time.Second, 9*time.Second))
	umPID := g.nextPID()
	g.syslog(t, priAuthInfo, bastionHost, "usermod", umPID, "add 'support2' to group 'sudo'")
	g.syslog(t, priAuthInfo, bastionHost, "usermod", umPID, "add 'support2' to shadow group 'sudo'")
	g.phase = ""

	// The intruder leaves a few minutes later.
	t = t.Add(g.jitter(90*time.Second, 120*time.Second))
	g.syslog(t, priAuthprivInfo, bastionHost, "sudo", 0, "pam_unix(sudo:session): session closed for user root")
	g.syslog(t.Add(time.Second), priAuthInfo, bastionHost, "sshd", sshPID, fmt.Sprintf("Received disconnect from %s port %d:11: disconnected by user", bruteIP, sshPort))
	g.syslog(t.Add(time.Second), priAuthInfo, bastionHost, "sshd", sshPID, fmt.Sprintf("Disconnected from user deploy %s port %d", bruteIP, sshPort))
	g.syslog(t.Add(time.Second), priAuthprivInfo, bastionHost, "sshd", sshPID, "pam_unix(sshd:session): session closed for user deploy")
	g.syslog(t.Add(time.Second), priAuthInfo, bastionHost, "systemd-logind", 612, "Session 31 logged out. Waiting for processes to exit.")
	g.syslog(t.Add(1100*time.Millisecond), priAuthInfo, bastionHost, "systemd-logind", 612, "Removed session 31.")
}
