// The reference's "Distributed Event Bus" example (simulation/example_events.js
// in the original Node library), unchanged but for the require line it left
// out. tests/examples.test.js runs it.
var T = require('../lib/telepathine.js').Telepathine;

var a = new T(9000, []).start();
var b = new T(9001, [":9000"]).start();

a.on('start', function () {

	a.hearOnce('eventname', function (data, fromPeer) {
		console.log('a received eventname=', data, 'from', fromPeer);
		a.say('reply');
	});

	a.hear('*', function (data, fromPeer) {
		console.log('a received ', this.event, '=', data, 'from', fromPeer);
	});

});

b.on('start', function () {

	b.hearOnce('reply', function (data, fromPeer) {
		console.log('b received reply=', data, ' from ', fromPeer);
	});		

	b.say('eventname', 'eventdata');
	
});
