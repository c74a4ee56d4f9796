import type { DType } from "../tensor/dtype.ts";
import type { Shape } from "../tensor/shape.ts";
import { gradHooks, Tensor } from "../tensor/tensor.ts";
import * as ew from "./elementwise.ts";
import * as rd from "./reduce.ts";
import * as sh from "./shape_ops.ts";
import { matmul } from "./matmul.ts";
import { onesLike } from "./creation.ts";
import type { TensorLike } from "./helpers.ts";

type Axes = number | number[] | undefined;

declare module "../tensor/tensor.ts" {
  interface Tensor {
    add(o: TensorLike): Tensor;
    sub(o: TensorLike): Tensor;
    mul(o: TensorLike): Tensor;
    div(o: TensorLike): Tensor;
    pow(o: TensorLike): Tensor;
    maximum(o: TensorLike): Tensor;
    minimum(o: TensorLike): Tensor;
    eq(o: TensorLike): Tensor;
    ne(o: TensorLike): Tensor;
    lt(o: TensorLike): Tensor;
    le(o: TensorLike): Tensor;
    gt(o: TensorLike): Tensor;
    ge(o: TensorLike): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    gelu(): Tensor;
    clamp(lo?: TensorLike, hi?: TensorLike): Tensor;
    sum(axes?: Axes, keepdim?: boolean): Tensor;
    mean(axes?: Axes, keepdim?: boolean): Tensor;
    max(axes?: Axes, keepdim?: boolean): Tensor;
    min(axes?: Axes, keepdim?: boolean): Tensor;
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    matmul(o: Tensor): Tensor;
    reshape(shape: Shape): Tensor;
    flatten(start?: number, end?: number): Tensor;
    permute(dims: number[]): Tensor;
    transpose(a?: number, b?: number): Tensor;
    expand(shape: Shape): Tensor;
    squeeze(axes?: number | number[]): Tensor;
    unsqueeze(axis: number): Tensor;
    slice(ranges: (sh.Range | undefined)[]): Tensor;
    narrow(axis: number, start: number, length: number): Tensor;
    flip(axes: number[]): Tensor;
    cast(dtype: DType): Tensor;
    isFinite(): Tensor;
    where(cond: Tensor, other: TensorLike): Tensor;
  }
}

const P = Tensor.prototype;
P.add = function (o) {
  return ew.add(this, o);
};
P.sub = function (o) {
  return ew.sub(this, o);
};
P.mul = function (o) {
  return ew.mul(this, o);
};
P.div = function (o) {
  return ew.div(this, o);
};
P.pow = function (o) {
  return ew.pow(this, o);
};
P.maximum = function (o) {
  return ew.maximum(this, o);
};
P.minimum = function (o) {
  return ew.minimum(this, o);
};
P.eq = function (o) {
  return ew.eq(this, o);
};
P.ne = function (o) {
  return ew.ne(this, o);
};
P.lt = function (o) {
  return ew.lt(this, o);
};
P.le = function (o) {
  return ew.le(this, o);
};
P.gt = function (o) {
  return ew.gt(this, o);
};
P.ge = function (o) {
  return ew.ge(this, o);
};
P.neg = function () {
  return ew.neg(this);
};
P.abs = function () {
  return ew.abs(this);
};
P.exp = function () {
  return ew.exp(this);
};
P.log = function () {
  return ew.log(this);
};
P.sqrt = function () {
  return ew.sqrt(this);
};
P.rsqrt = function () {
  return ew.rsqrt(this);
};
P.sin = function () {
  return ew.sin(this);
};
P.cos = function () {
  return ew.cos(this);
};
P.tanh = function () {
  return ew.tanh(this);
};
P.sigmoid = function () {
  return ew.sigmoid(this);
};
P.relu = function () {
  return ew.relu(this);
};
P.gelu = function () {
  return ew.gelu(this);
};
P.clamp = function (lo, hi) {
  return ew.clamp(this, lo, hi);
};
P.sum = function (a, k) {
  return rd.sum(this, a, k);
};
P.mean = function (a, k) {
  return rd.mean(this, a, k);
};
P.max = function (a, k) {
  return rd.max(this, a, k);
};
P.min = function (a, k) {
  return rd.min(this, a, k);
};
P.argmax = function (a, k) {
  return rd.argmax(this, a, k);
};
P.argmin = function (a, k) {
  return rd.argmin(this, a, k);
};
P.softmax = function (a) {
  return rd.softmax(this, a);
};
P.logSoftmax = function (a) {
  return rd.logSoftmax(this, a);
};
P.matmul = function (o) {
  return matmul(this, o);
};
P.reshape = function (s) {
  return sh.reshape(this, s);
};
P.flatten = function (s, e) {
  return sh.flatten(this, s, e);
};
P.permute = function (d) {
  return sh.permute(this, d);
};
P.transpose = function (a, b) {
  return sh.transpose(this, a, b);
};
P.expand = function (s) {
  return sh.expand(this, s);
};
P.squeeze = function (a) {
  return sh.squeeze(this, a);
};
P.unsqueeze = function (a) {
  return sh.unsqueeze(this, a);
};
P.slice = function (r) {
  return sh.slice(this, r);
};
P.narrow = function (a, s, l) {
  return sh.narrow(this, a, s, l);
};
P.flip = function (a) {
  return sh.flip(this, a);
};
P.cast = function (d) {
  return ew.cast(this, d);
};
P.isFinite = function () {
  return ew.lt(ew.abs(this), Infinity);
};
P.where = function (c, o) {
  return ew.where(c, this, o);
};

gradHooks.onesLike = (t) => onesLike(t);
gradHooks.add = (a, b) => ew.add(a, b);
