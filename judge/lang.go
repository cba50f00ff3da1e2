package judge

// Languages a submission may be written in, as clients name them.
var Languages = []string{"c", "cpp17", "python3", "java17", "go", "javascript"}

// KnownLanguage says whether name is one of Languages.
func KnownLanguage(name string) bool {
	for _, l := range Languages {
		if l == name {
			return true
		}
	}
	return false
}
