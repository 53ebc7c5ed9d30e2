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

// Match reports whether the event name matches the pattern.
func (p Pattern) Match(name string) bool {
	if !p.wild {
		return p.raw == name
	}
	return matchSegs(p.segs, strings.Split(name, Delimiter))
}

// MatchSegments is Match for a name already split at ':'.
func (p Pattern) MatchSegments(name string, segs []string) bool {
	if !p.wild {
		return p.raw == name
	}
	return matchSegs(p.segs, segs)
}

// matchSegs matches with backtracking over "**". Patterns are short, so the
// worst case (several "**") stays cheap; runs of "**" are collapsed first.
func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case "**":
			for len(pat) > 1 && pat[1] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(name) == 0 {
				return false
			}
		default:
			if len(name) == 0 || name[0] != pat[0] {
				return false
			}
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
