// An example verification service: jt808.auth.v1.DeviceAuthService in Node.js.
//
//   npm install && node server.js --listen 127.0.0.1:50061 --devices devices.csv
//   jt808 serve --auth remote --auth-endpoint 127.0.0.1:50061
//
// The allow-list is a CSV in the format `jt808 devices import` reads (columns manufacturer_id,
// terminal_model, terminal_id, and optionally phone, plate, plate_color). A listed terminal
// that registers gets a random auth code bound to its phone; Authenticate accepts only that
// code from that phone; Logout revokes it. Codes live in memory (a restart makes terminals
// register again) and are never logged. The contract is loaded from the repository's proto/.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { parse: parseCsv } = require('csv-parse/sync');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');
const CONTRACT = 'jt808/auth/v1/auth.proto';
const COLUMNS = ['manufacturer_id', 'terminal_model', 'terminal_id', 'phone', 'plate', 'plate_color'];
const REQUIRED = COLUMNS.slice(0, 3);

function log(message) {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

// A phone compared without its leading zeros: 2019 terminals pad to 20 digits what older ones
// send as 12.
function phoneKey(phone) {
  return phone.replace(/^0+/, '') || '0';
}

// The allow-list, with the rules of `jt808 devices import`: a header row naming some of
// COLUMNS (the first three required, others refused), values trimmed.
function readDevices(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  const rows = parseCsv(text, { columns: false, skip_empty_lines: true, relax_column_count: true });
  if (rows.length === 0) throw new Error('line 1: no header row');
  const header = rows[0].map((name) => name.trim());
  const unknown = header.filter((name) => !COLUMNS.includes(name));
  if (unknown.length) throw new Error(`line 1: unknown column(s) ${unknown.join(', ')}`);
  const missing = REQUIRED.filter((name) => !header.includes(name));
  if (missing.length) throw new Error(`line 1: missing required column(s) ${missing.join(', ')}`);
  const devices = new Map();
  rows.slice(1).forEach((values, index) => {
    const line = index + 2;
    if (values.length > header.length) throw new Error(`line ${line}: more values than columns`);
    const row = Object.fromEntries(header.map((name, i) => [name, (values[i] || '').trim()]));
    for (const name of REQUIRED) {
      if (!row[name]) throw new Error(`line ${line}: ${name} is empty`);
    }
    if (row.phone && !/^[0-9]+$/.test(row.phone)) {
      throw new Error(`line ${line}: phone ${JSON.stringify(row.phone)} is not digits`);
    }
    const device = {
      name: `${row.manufacturer_id}_${row.terminal_model}_${row.terminal_id}`,
      phone: row.phone || '',
      plate: row.plate || '',
    };
    devices.set(device.name, device);
  });
  return devices;
}

class AllowListAuthService {
  constructor(devices, token) {
    this.devices = devices; // name -> {name, phone, plate}
    this.registrations = new Map(); // phone without leading zeros -> {device, authCode}
    this.expectedAuthorization = token ? `Bearer ${token}` : null;
  }

  handlers() {
    return {
      Register: this.guarded((request) => this.register(request)),
      Authenticate: this.guarded((request) => this.authenticate(request)),
      Logout: this.guarded((request) => this.logout(request)),
    };
  }

  // Every call checks the bearer token (when one is set) before its handler runs.
  guarded(handler) {
    return (call, callback) => {
      if (this.expectedAuthorization !== null) {
        const given = String(call.metadata.get('authorization')[0] || '');
        if (!sameSecret(given, this.expectedAuthorization)) {
          callback({ code: grpc.status.UNAUTHENTICATED, details: 'a valid bearer token is required' });
          return;
        }
      }
      try {
        callback(null, handler(call.request));
      } catch (error) {
        log(`internal error: ${error.message}`);
        callback({ code: grpc.status.INTERNAL, details: 'internal error' });
      }
    };
  }

  register(request) {
    const name = `${request.manufacturer_id}_${request.terminal_model}_${request.terminal_id}`;
    const device = this.devices.get(name);
    let result;
    if (!device) {
      result = 'REGISTER_RESULT_TERMINAL_NOT_FOUND';
    } else if (device.phone && phoneKey(device.phone) !== phoneKey(request.phone)) {
      result = 'REGISTER_RESULT_TERMINAL_ALREADY_REGISTERED'; // another SIM uses this device
    } else if (device.plate && device.plate !== request.plate) {
      result = 'REGISTER_RESULT_VEHICLE_NOT_FOUND';
    } else {
      const phone = phoneKey(request.phone);
      let known = this.registrations.get(phone);
      // The gateway may retry a call: the same terminal gets the same code back.
      if (!known || known.device.name !== name) {
        known = { device, authCode: crypto.randomBytes(16).toString('hex') };
        this.registrations.set(phone, known);
      }
      log(`register phone=${request.phone} device=${name} result=success`);
      return { result: 'REGISTER_RESULT_SUCCESS', auth_code: known.authCode };
    }
    const outcome = result.replace('REGISTER_RESULT_', '').toLowerCase();
    log(`register phone=${request.phone} device=${name} result=${outcome}`);
    return { result, auth_code: '' };
  }

  authenticate(request) {
    const known = this.registrations.get(phoneKey(request.phone));
    const accepted = Boolean(known) && sameSecret(request.auth_code, known.authCode);
    log(`authenticate phone=${request.phone} accepted=${accepted}`);
    return accepted ? { accepted, device_name: known.device.name } : { accepted: false };
  }

  logout(request) {
    const revoked = this.registrations.delete(phoneKey(request.phone));
    log(`logout phone=${request.phone} revoked=${revoked}`);
    return {};
  }
}

// Constant-time comparison of two secrets (a code or a token).
function sameSecret(given, expected) {
  const a = crypto.createHash('sha256').update(String(given)).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return crypto.timingSafeEqual(a, b);
}

function loadContract() {
  const definition = protoLoader.loadSync(CONTRACT, {
    includeDirs: [PROTO_ROOT],
    keepCase: true, // field names as in the proto: auth_code, manufacturer_id ...
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).jt808.auth.v1;
}

function main() {
  let options;
  try {
    ({ values: options } = parseArgs({
      options: {
        listen: { type: 'string', default: '127.0.0.1:50061' },
        devices: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`server.js: ${error.message}\n`);
    return 2;
  }
  if (options.help || !options.devices) {
    const usage = 'usage: node server.js --listen HOST:PORT --devices FILE [--token TOKEN]\n';
    (options.help ? process.stdout : process.stderr).write(usage);
    return options.help ? 0 : 2;
  }
  let devices;
  try {
    devices = readDevices(options.devices);
  } catch (error) {
    process.stderr.write(`server.js: ${options.devices}: ${error.message}\n`);
    return 2;
  }
  const auth = loadContract();
  const server = new grpc.Server();
  server.addService(auth.DeviceAuthService.service, new AllowListAuthService(devices, options.token).handlers());
  server.bindAsync(options.listen, grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) {
      process.stderr.write(`server.js: cannot listen on ${options.listen}: ${error.message}\n`);
      process.exit(1);
    }
    const host = options.listen.slice(0, options.listen.lastIndexOf(':'));
    log(`listening on ${host}:${port} with ${devices.size} allowed device(s), contract proto/${CONTRACT}`);
  });
  const stop = () => {
    log('stopping');
    server.tryShutdown(() => process.exit(0));
    setTimeout(() => server.forceShutdown(), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return null;
}

const status = main();
if (status !== null) process.exitCode = status;
