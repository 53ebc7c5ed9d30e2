'use strict';
// The options come from the generated Config schema, not from a list: a
// field added to the proto is an option with no change to the binding.
const test = require('node:test');
const assert = require('node:assert/strict');
const { create, clone, fromBinary, createFileRegistry } = require('@bufbuild/protobuf');
const {
  FieldDescriptorProtoSchema,
  FieldDescriptorProto_Type: Type,
  FieldDescriptorProto_Label: Label,
  DescriptorProtoSchema,
  FileDescriptorProtoSchema,
} = require('@bufbuild/protobuf/wkt');
const { file_telepathine_api_v1_api: apiFile, ConfigSchema, Preset } = require('../gen/telepathine/api/v1/api_pb.js');
const { buildConfig, configBuilder } = require('../lib/config');

// ConfigSchema with two more fields, as a newer schema would have: a
// number and a map of strings.
function newerConfigSchema() {
  const fdp = clone(FileDescriptorProtoSchema, apiFile.proto);
  const msg = fdp.messageType.find((m) => m.name === 'Config');
  msg.field.push(create(FieldDescriptorProtoSchema, {
    name: 'future_knob_ms', jsonName: 'futureKnobMs', number: 998, type: Type.UINT64, label: Label.OPTIONAL,
  }));
  msg.nestedType.push(create(DescriptorProtoSchema, {
    name: 'FutureMapEntry',
    options: { mapEntry: true },
    field: [
      create(FieldDescriptorProtoSchema, { name: 'key', jsonName: 'key', number: 1, type: Type.STRING, label: Label.OPTIONAL }),
      create(FieldDescriptorProtoSchema, { name: 'value', jsonName: 'value', number: 2, type: Type.STRING, label: Label.OPTIONAL }),
    ],
  }));
  msg.field.push(create(FieldDescriptorProtoSchema, {
    name: 'future_map', jsonName: 'futureMap', number: 999, type: Type.MESSAGE, label: Label.REPEATED,
    typeName: '.telepathine.api.v1.Config.FutureMapEntry',
  }));
  return createFileRegistry(fdp, () => undefined).getMessage('telepathine.api.v1.Config');
}

test('a field added to the proto is an option, checked by its type', () => {
  const schema = newerConfigSchema();
  const build = configBuilder(schema);
  const c = fromBinary(schema, build(0, [], { preset: 'local', futureKnobMs: 5, futureMap: new Map([['a:1', 'b:2']]) }).bytes);
  assert.equal(c.futureKnobMs, 5n);
  assert.deepEqual(c.futureMap, { 'a:1': 'b:2' });
  assert.equal(c.preset, Preset.LOCAL);
  assert.throws(() => build(0, [], { futureKnobMs: -1 }), (e) => e instanceof RangeError || e instanceof TypeError);
  assert.throws(() => build(0, [], { futureMap: { 'a:1': 2 } }), TypeError);
  assert.throws(() => build(0, [], { futureKnob: 5 }), /is not an option/);
  // The library of today refuses what it does not know: the field is the binding's concern only.
  assert.throws(() => buildConfig(0, [], { futureKnobMs: 5 }), /is not an option/);
});

test('address_map and the enums come from the schema too', () => {
  const c = fromBinary(ConfigSchema, buildConfig(0, [], { addressMap: { '10.0.0.1:1': '127.0.0.1:2' }, transportMode: 'TCP_ONLY', preset: 'Wan' }).bytes);
  assert.deepEqual(c.addressMap, { '10.0.0.1:1': '127.0.0.1:2' });
  assert.equal(c.preset, Preset.WAN);
  assert.throws(() => buildConfig(0, [], { preset: 'unspecified' }), /must be one of 'lan', 'wan', 'local'/);
});
