// op_id: a client-made id that makes a write safe to retry. The server stores the first
// answer under it; a replay with the same op_id changes nothing and returns that answer.
// Pattern the API accepts: ^[A-Za-z0-9_-]{8,64}$. Make ONE per user action and reuse it
// for every retry of that action (utils/request.js does this for you with {opId: true}).

let counter = 0;

function randomHex(n) {
  let out = '';
  for (let i = 0; i < n; i += 1) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

function newOpId() {
  counter = (counter + 1) % 1296;
  // time (base36) + a per-process counter + 16 random hex digits: unique enough per device.
  return `mp-${Date.now().toString(36)}${counter.toString(36).padStart(2, '0')}${randomHex(16)}`;
}

const OP_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

module.exports = { newOpId, OP_ID_PATTERN };
