package handlers

// ShipmentDecoder is shipmentDecoder for the package's external tests.
var ShipmentDecoder = shipmentDecoder
