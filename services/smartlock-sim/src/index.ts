export { BluetoothGateway, type GatewayOptions } from './bluetooth-gateway.js';
