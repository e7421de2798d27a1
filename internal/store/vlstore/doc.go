// Package vlstore keeps events in VictoriaLogs' storage engine
// (github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage), embedded, behind
// the store.Store interface.
//
// Each event is one log row: its time as _time, its full text (the message
// values, else log.original) as _msg, every field and the event's own
// members (vigil.input, logsource.*, tags, log.original, event.ingested)
// as columns under their ECS names, host.name and event.dataset as the
// stream, and the event's binary document (event.AppendBinary) so that it
// reads back exactly, types and arrays included.
//
// A search compiles the parsed query (never the user's text) to a LogsQL
// filter that selects a superset of the matching events, using the
// engine's columns and Bloom filters; every value in it is quoted by one
// function (quote). The exact semantics of the language are then applied
// to the decoded events by the reference matcher in package query, and the
// pipes (stats, sort, limit, fields, timechart) by query.Run, so the
// answers are the reference's by construction.
package vlstore
