package sigma

// Levels are the Sigma rule levels, from least to most severe.
var Levels = []string{"informational", "low", "medium", "high", "critical"}

// LevelRank returns the rank of a level in Levels (informational 0 ...
// critical 4), or -1 for a string that is not a level.
func LevelRank(level string) int {
	for i, l := range Levels {
		if l == level {
			return i
		}
	}
	return -1
}
