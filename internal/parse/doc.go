// Package parse turns raw messages into normalized events: it decodes the
// transport format and runs the application parsers that map a message's
// text to Elastic Common Schema (ECS) fields and a Sigma logsource.
//
// One Parser serves every pipeline worker (it is safe for concurrent use);
// Parse never fails. Input that no decoder understands is kept as message
// and log.original with the tag parse_error; malformed CEF, LEEF, syslog
// structured data or JSON keeps what was decoded (for JSON, the complete
// members before the damage) and is tagged parse_error too. Input cut by a
// limit is tagged truncated. Field names taken from messages are cut at
// MaxNameLen bytes, and at most Options.MaxFields fields are kept, so
// hostile input cannot grow the process-wide table of field names without
// bound.
//
// # Decoders
//
// The ingest.Format of a message selects the decoder; FormatAuto detects it
// from the first bytes ('{' JSON, '<digit' syslog, a syslog timestamp,
// "CEF:", "LEEF:", "<Event", else text).
//
//   - Syslog RFC 5424 and RFC 3164 (best effort: without PRI, without
//     hostname, with rsyslog's ISO timestamps or a year): log.syslog.priority,
//     log.syslog.facility.code and .name, log.syslog.severity.code and .name,
//     host.name,
//     process.name and log.syslog.appname (APP-NAME / TAG), process.pid,
//     log.syslog.msgid, log.syslog.structured_data.<SD-ID>.<param>, message.
//     RFC 3164 times take the year of the received time (the previous year
//     when that would put the event more than a day ahead). Logsource product
//     linux, service from the program (sshd, sudo, cron, auditd, vsftpd and
//     the auth.log programs su, login, passwd, useradd, ... by their names);
//     product cisco, service syslog for Cisco "%FAC-SEV-MNEMONIC:" messages.
//   - JSON objects: nested objects become dotted names, arrays repeated
//     keys; JSON types are kept; numbers keep their exact text. The time
//     comes from @timestamp, timestamp, time, ts or date (RFC 3339 or epoch
//     seconds/milliseconds/microseconds/nanoseconds). Objects deeper than
//     Options.MaxDepth are kept as JSON text; fields beyond Options.MaxFields
//     are dropped (tag truncated). The record's message ("message", or
//     "msg", "log" as Fluent Bit names it, "MESSAGE" as journald does) is
//     run through the app parsers, with the program from process.name,
//     program, ident, appname, syslog.appname, service or
//     SYSLOG_IDENTIFIER; a message that is itself a syslog line (a line of
//     /var/log/auth.log that Filebeat, Fluent Bit, Vector or the
//     OpenTelemetry Collector read from a file) is decoded as if it had
//     come over syslog: its header adds the program, pid, priority, and
//     the host and time when the record has none, and the record keeps
//     its own fields and message.
//   - Windows events as evtx_dump JSON ({"Event": {"System", "EventData" |
//     "UserData"}}), as Winlogbeat documents (winlog.*) and as rendered XML
//     (<Event>...</Event>, also Sysmon for Linux over syslog), and flat JSON
//     with EventID and Channel at the top (NXLog and SIEM exports): every
//     EventData/UserData name as-is, plus EventID, Channel, Provider_Name,
//     Provider_Guid, Computer, Level, Task, Opcode, Keywords, Version,
//     EventRecordID, ActivityID, ProcessID, ThreadID, Security_UserID, and
//     ECS host.name, event.code, winlog.channel, winlog.provider_name,
//     event.dataset windows.<service>. Logsource product windows (linux for
//     the Linux-Sysmon/Operational channel), service from the channel.
//     Values made only of %%N message parameters (AccessList "%%1538
//     %%4417", FailureReason "%%2313") get the rendered text, as Event
//     Viewer shows it, as a second value after the raw one (winmsg.go).
//   - Azure Monitor / Sentinel (Log Analytics) rows: WindowsEvent with
//     EventData packed as one JSON string, SecurityEvent and Event with
//     EventData as XML (unpacked into the data names; the packed string is
//     dropped), Event's EventLog and Source as Channel and Provider_Name,
//     and Syslog rows, whose SyslogMessage goes through the app parsers as
//     a message of ProcessName (Sysmon for Linux XML, auditd, AUOMS, sshd,
//     ...) with host.name, process.name, process.pid and log.syslog.* from
//     the columns. TimeGenerated is the event time of any JSON record only
//     when it has no better one.
//   - Zeek JSON logs (a record with ts and _path, or with the fields
//     only one log has, or read from a file named after a Zeek log) and
//     Suricata EVE JSON (event_type, timestamp, and flow_id or the
//     packet's addresses): the sensor's own names as they came, plus ECS
//     (source.*, destination.*, network.*, dns.*, url.*, http.*, tls.*,
//     x509.*, file.*, rule.* of Suricata alerts), event.module,
//     event.dataset zeek.<log> or suricata.eve, and logsource product zeek
//     or suricata with the log or event type as service (dns records also
//     category dns). See zeek.go and suricata.go.
//   - CEF: cef.version, cef.device_vendor, cef.device_product,
//     cef.device_version, cef.device_event_class_id, cef.name, cef.severity,
//     observer.*, event.code, rule.name, event.severity; every extension as
//     cef.extensions.<key> and <key>, and the common keys also as ECS
//     (src→source.ip, spt→source.port, dst→destination.ip, suser→
//     source.user.name and user.name, act→event.action, msg→message, ...);
//     rt is the event time.
//   - LEEF 1.0 and 2.0 (delimiter as a character or hex): leef.* header
//     fields, every attribute as leef.<key> and <key>, ECS as for CEF;
//     devTime is the event time.
//   - key=value / logfmt text (quoted values, backslash escapes) when a
//     message is mostly pairs; netfilter (iptables, ufw) lines also get
//     source.ip, destination.ip, source.port, destination.port,
//     network.transport and dataset iptables.
//
// # App parsers
//
// They run on the message text, chosen by the syslog program or, for text
// without one, by the shape of the line. Each registers its program names,
// their Sigma service and its decoder (registerApp, app.go): adding a
// parser is adding a file and its test. Every event gets event.kind=event;
// the parsers set event.category, event.action, event.outcome and
// event.dataset.
//
//   - sshd (also sshd-session, sshd-auth): category authentication, actions
//     ssh_login, ssh_invalid_user, ssh_disconnect, ssh_max_auth_attempts,
//     ssh_no_identification, ssh_user_not_allowed, ssh_negotiation_failed,
//     ssh_auth_timeout, ssh_bad_banner, authentication-failure (PAM);
//     user.name, source.ip, source.port,
//     ssh.auth_method. Dataset sshd.
//   - sudo: its own keys TTY, PWD, USER, GROUP, COMMAND (Sigma linux/sudo
//     rules use them), user.name, user.target.name (USER=), process.command_line,
//     process.working_directory, process.tty.name; failures (incorrect
//     password, NOT in sudoers, command not allowed) with outcome failure.
//   - su, login, pam_unix of any program (session opened/closed,
//     authentication failure, password changed).
//   - useradd, usermod, userdel, groupadd, groupdel, passwd, chpasswd:
//     category iam, actions user-created, group-created, added-to-group,
//     removed-from-group, user-modified, user-deleted, group-deleted,
//     password-changed; user.name, user.id, group.name, group.id.
//   - systemd-logind sessions (session.id, user.name), cron commands
//     (process.command_line, logsource linux/cron).
//   - auditd records (alone or after a syslog header): every key as-is
//     (type, syscall, exe, a0..., key, the enriched upper-case keys after
//     0x1d), hex-encoded values (proctitle, EXECVE arguments, name, cwd,
//     ...) decoded in place, the audit time as event time, and ECS
//     process.executable, process.name, process.pid, process.parent.pid,
//     process.command_line (EXECVE), process.title, user.id, user.audit.id,
//     user.name (acct), source.ip, event.outcome. Logsource linux/auditd.
//     EXECVE also gives process.args, process.args_count and, for an
//     absolute argv[0], process.executable; split arguments (aN_len,
//     aN[i]) are joined into aN. AUOMS records (the Azure Monitor agent's
//     audit plugin, program auoms) are read the same way; AUOMS_EXECVE's
//     cmdline, whose inner quotes AUOMS does not escape, is taken whole
//     as process.command_line and split as a shell would into
//     process.args, and its user, audit_user, effective_user and group
//     names give user.name, user.audit.name, user.effective.name and
//     group.name.
//   - nginx and Apache access logs (common, combined, vhost_combined) and
//     error logs: source.ip, user.name, http.request.method, url.original,
//     url.path, url.query, http.version, http.response.status_code,
//     http.response.body.bytes, http.request.referrer, user_agent.original;
//     event.dataset nginx.access, apache.access, nginx.error, apache.error
//     (web.access when the server is unknown); logsource category webserver,
//     product and service nginx or apache when the program, the file path
//     or the error log's shape says so.
package parse
