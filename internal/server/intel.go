package server

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/detect"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/intel"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/sigma"
)

// detectors runs several detectors on each event, in order.
type detectors []pipeline.Detector

func (ds detectors) Detect(ev *event.Event) {
	for _, d := range ds {
		d.Detect(ev)
	}
}

// SyncDetections syncs the detectors that hand detections over durably
// (pipeline.DetectionSyncer).
func (ds detectors) SyncDetections() error {
	var errs []error
	for _, d := range ds {
		if s, ok := d.(pipeline.DetectionSyncer); ok {
			errs = append(errs, s.SyncDetections())
		}
	}
	return errors.Join(errs...)
}

// intelDetector turns threat-intel hits into alerts. Each (feed, kind,
// level) gets one synthetic rule so that alerts list, filter and
// deduplicate like any other; the matched indicator and its context go in
// the alert's group, so repeats of the same indicator fold into one alert.
type intelDetector struct {
	m     *intel.Manager
	rec   *alert.Recorder
	rules sync.Map // string → *sigma.Rule
}

func (d *intelDetector) Detect(ev *event.Event) {
	d.m.Match(ev, func(h intel.Hit) {
		ctx := h.Indicator.Context
		r := d.rule(ctx, h.Indicator)
		group := []detect.GroupValue{{Field: "indicator", Value: h.Value}, {Field: "field", Value: h.Field}, {Field: "feed", Value: ctx.Feed}}
		if ctx.Description != "" {
			group = append(group, detect.GroupValue{Field: "description", Value: ctx.Description})
		}
		if ctx.Source != "" {
			group = append(group, detect.GroupValue{Field: "source", Value: ctx.Source})
		}
		d.rec.Record(detect.Detection{Rule: r, Event: ev, Time: ev.Timestamp(), Count: 1, Group: group})
	})
}

// intelLevel maps an indicator's confidence to an alert level.
func intelLevel(confidence uint8) string {
	switch {
	case confidence >= 80:
		return "high"
	case confidence >= 50:
		return "medium"
	}
	return "low"
}

func (d *intelDetector) rule(ctx *intel.Context, in *intel.Indicator) *sigma.Rule {
	level := intelLevel(in.Confidence)
	key := ctx.Feed + "\x00" + in.Kind.String() + "\x00" + level
	if r, ok := d.rules.Load(key); ok {
		return r.(*sigma.Rule)
	}
	sum := sha256.Sum256([]byte(key))
	id := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	tags := []string{"intel", "intel." + in.Kind.String()}
	for _, t := range ctx.Tags {
		if t = strings.TrimSpace(t); t != "" && len(tags) < 16 {
			tags = append(tags, t)
		}
	}
	r := &sigma.Rule{
		ID: id, Name: "intel_" + ctx.Feed + "_" + in.Kind.String(), Level: level, Status: "stable",
		Title:       fmt.Sprintf("Threat intel match: %s from feed %s", in.Kind, ctx.Feed),
		Description: "An event named an indicator of the threat-intelligence feed " + ctx.Feed + ".",
		Tags:        tags,
	}
	actual, _ := d.rules.LoadOrStore(key, r)
	return actual.(*sigma.Rule)
}
