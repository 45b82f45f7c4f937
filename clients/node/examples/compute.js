// The seed's compute.js, an unmodified child_process.fork child: on any message it computes
// the sum of 0..99999 and sends it back (4999950000). Under a polyfork host it runs through
// register.js, which gives it process.send and process.on('message'):
//
//   echo '"start"' | polyfork send -channel fd -- node --require clients/node/register.js clients/node/examples/compute.js
//
// With -channel fd its console.log goes to the host's log, as under Node's fork.
process.on('message', (message) => {
  console.log('computing the sum for', message);
  let sum = 0;
  for (let i = 0; i < 100000; i++) sum += i;
  process.send(sum);
});
