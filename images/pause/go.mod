module github.com/kubeception/kubeception/images/pause

go 1.26.0
