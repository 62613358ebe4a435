package gitlab

// YAMLOnly makes Generate lay the file out with yaml.v3 alone, so that tests
// can check that the printer writes the same bytes.
func YAMLOnly() Option { return func(s *settings) { s.yamlOnly = true } }
