package probe

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// error about two interacting settings points at.
type settingLevel int

const (
	levelBuiltin settingLevel = iota
	levelDefaults
	levelService
	levelEndpoint
)

func (lvl settingLevel) String() string {
	return [...]string{LevelBuiltin, LevelDefaults, LevelService, LevelEndpoint}[lvl]
}

// settingsLayer are the settings one level gives, each with its position
// (nil when the level does not set it).
type settingsLayer struct {
	timeout, samples, degraded, certMin *Pos
	values                              Settings
	broken                              bool // a setting here failed to parse
}

// effectiveSettings are settings after layering, with where each came from.
type effectiveSettings struct {
	Settings
	src                     SettingSources
	timeoutLvl, degradedLvl settingLevel
	broken                  bool
}

func builtinSettings() effectiveSettings {
	b := SettingSource{Level: LevelBuiltin}
	return effectiveSettings{Settings: DefaultSettings, src: SettingSources{b, b, b, b}}
}

func (e effectiveSettings) with(o settingsLayer, lvl settingLevel) effectiveSettings {
	if o.timeout != nil {
		e.Timeout, e.timeoutLvl = o.values.Timeout, lvl
		e.src.Timeout = SettingSource{lvl.String(), *o.timeout}
	}
	if o.samples != nil {
		e.Samples = o.values.Samples
		e.src.Samples = SettingSource{lvl.String(), *o.samples}
	}
	if o.degraded != nil {
		e.DegradedLatency, e.degradedLvl = o.values.DegradedLatency, lvl
		e.src.DegradedLatency = SettingSource{lvl.String(), *o.degraded}
	}
	if o.certMin != nil {
		e.CertMinDays = o.values.CertMinDays
		e.src.CertMinDays = SettingSource{lvl.String(), *o.certMin}
	}
	e.broken = e.broken || o.broken
	return e
}

// settings reads the setting keys of one level from its fields.
func (l *loader) settings(f map[string]keyVal) settingsLayer {
	var o settingsLayer
	at := func(n *yaml.Node) *Pos {
		p := l.pos(resolveAlias(n))
		return &p
	}
	if p, ok := f["timeout"]; ok {
		if d, good := l.duration(p.v, "timeout"); good {
			o.timeout, o.values.Timeout = at(p.v), d
		} else {
			o.broken = true
		}
	}
	if p, ok := f["samples"]; ok {
		if v, good := l.integer(p.v, "samples"); good {
			if v < 1 || v > 100 {
				l.errorf(p.v, "", "samples must be between 1 and 100, got %d", v)
			} else {
				o.samples, o.values.Samples = at(p.v), v
			}
		}
	}
	if p, ok := f["degraded_latency"]; ok {
		if d, good := l.duration(p.v, "degraded_latency"); good {
			o.degraded, o.values.DegradedLatency = at(p.v), d
		} else {
			o.broken = true
		}
	}
	if p, ok := f["cert_min_days"]; ok {
		if v, good := l.integer(p.v, "cert_min_days"); good {
			if v < 0 {
				l.errorf(p.v, "", "cert_min_days must not be negative, got %d", v)
			} else {
				o.certMin, o.values.CertMinDays = at(p.v), v
			}
		}
	}
	return o
}

// topLevel is one document's top-level keys.

// checkLatency reports a degraded_latency that is not below the timeout an
// endpoint ends up with: such an endpoint could never be judged slow. The
// error points at the more specific of the two settings.
//
// The built-in degraded_latency is exempt: a short timeout set on its own
// (a 300ms probe of a LAN host) must not force the user to also lower a
// threshold they never wrote.
func (l *loader) checkLatency(e effectiveSettings) {
	if e.broken || e.DegradedLatency < e.Timeout || e.degradedLvl == levelBuiltin {
		return
	}
	pos, other, otherName := e.src.DegradedLatency.Pos, e.src.Timeout, "timeout"
	if e.timeoutLvl > e.degradedLvl {
		pos, other, otherName = e.src.Timeout.Pos, e.src.DegradedLatency, "degraded_latency"
	}
	hint := fmt.Sprintf("%s is the built-in default", otherName)
	switch {
	case other.Level == LevelBuiltin:
	case other.Pos.File == pos.File:
		hint = fmt.Sprintf("%s is set at line %d", otherName, other.Pos.Line)
	default:
		hint = fmt.Sprintf("%s is set at %s", otherName, formatPos(other.Pos))
	}
	l.errorAt(pos, hint, "degraded_latency %s is not below timeout %s", e.DegradedLatency, e.Timeout)
}
