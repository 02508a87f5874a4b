// Package v20170312 stands in for Tencent Cloud's VPC SDK, which the Go module proxy no longer serves: flanneld
// links every backend, and only its tencent-vpc backend uses this package. kubeception runs the vxlan backend;
// a tencent-vpc network would fail here with a clear error instead of calling Tencent Cloud.
package v20170312

import "errors"

var errUnavailable = errors.New("the tencent-vpc backend is not available in this flanneld build")

// Client is the VPC API client.
type Client struct{}

// NewClientWithSecretId returns a client whose every call fails.
func NewClientWithSecretId(secretID, secretKey, region string) (*Client, error) {
	return &Client{}, errUnavailable
}

// Filter selects route tables.
type Filter struct {
	Name   *string
	Values []*string
}

// Route is one route of a route table.
type Route struct {
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteType            *string
	Enabled              *bool
	RouteId              *uint64
}

// RouteTable holds routes.
type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

// DescribeRouteTablesRequest asks for route tables.
type DescribeRouteTablesRequest struct{ Filters []*Filter }

// DescribeRouteTablesResponse answers it.
type DescribeRouteTablesResponse struct {
	Response *struct{ RouteTableSet []*RouteTable }
}

// RoutesRequest creates or deletes routes.
type RoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

// NewDescribeRouteTablesRequest returns an empty request.
func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest { return &DescribeRouteTablesRequest{} }

// NewCreateRoutesRequest returns an empty request.
func NewCreateRoutesRequest() *RoutesRequest { return &RoutesRequest{} }

// NewDeleteRoutesRequest returns an empty request.
func NewDeleteRoutesRequest() *RoutesRequest { return &RoutesRequest{} }

// DescribeRouteTables fails: the backend is not available.
func (c *Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, errUnavailable
}

// CreateRoutes fails: the backend is not available.
func (c *Client) CreateRoutes(*RoutesRequest) (struct{}, error) { return struct{}{}, errUnavailable }

// DeleteRoutes fails: the backend is not available.
func (c *Client) DeleteRoutes(*RoutesRequest) (struct{}, error) { return struct{}{}, errUnavailable }
