package bus

import "strings"

// Delimiter separates the segments of event names and patterns, as in
// EventEmitter2 configured with delimiter ':'.
const Delimiter = ":"

// Pattern is a compiled subscription pattern. Segments are separated by ':';
// a segment "*" matches exactly one segment of a name, a segment "**" matches
// any number of segments (zero included); every other segment matches itself.
// So "set:*" matches "set:color" but not "set:ui:color", "set:**" matches
// both, and "**" matches every name. This is EventEmitter2's meaning (the
// Node binding uses EventEmitter2 itself; testdata/ee2_patterns.json holds
// vectors from it), except that consecutive "**" segments, on which
// EventEmitter2 is inconsistent, behave as one.
type Pattern struct {
	raw  string
	segs []string
	wild bool
}

// Compile parses a pattern. Every string is a valid pattern.
func Compile(p string) Pattern {
	segs := strings.Split(p, Delimiter)
	wild := false
	for _, s := range segs {
		if s == "*" || s == "**" {
			wild = true
		}
	}
	return Pattern{raw: p, segs: segs, wild: wild}
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// Match reports whether the event name matches the pattern. It splits
// nothing: the name's segments are walked in place, so matching allocates
// nothing.
func (p Pattern) Match(name string) bool {
	if !p.wild {
		return p.raw == name
	}
	return matchName(p.segs, name, true)
}

// matchName matches with backtracking over "**". The name's segments not
// matched yet are name when more is set (a name always has a segment,
// possibly empty: "" is one empty segment), none when more is unset.
// Patterns are short, so the worst case (several "**") stays cheap; runs
// of "**" are collapsed first.
func matchName(pat []string, name string, more bool) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case "**":
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for {
				if matchName(pat[1:], name, more) {
					return true
				}
				if !more {
					return false
				}
				_, name, more = cutSegment(name)
			}
		case "*":
			if !more {
				return false
			}
		default:
			if !more {
				return false
			}
			if seg, _, _ := cutSegment(name); seg != pat[0] {
				return false
			}
		}
		_, name, more = cutSegment(name)
		pat = pat[1:]
	}
	return !more
}

// cutSegment splits the first segment off name; more reports whether a
// segment follows it.
func cutSegment(name string) (seg, rest string, more bool) {
	i := strings.Index(name, Delimiter)
	if i < 0 {
		return name, "", false
	}
	return name[:i], name[i+len(Delimiter):], true
}
