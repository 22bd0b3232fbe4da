//go:build !unix

package session

// maxFiles reports that the platform has no file-descriptor limit to show.
func maxFiles() (int64, bool) { return 0, false }
