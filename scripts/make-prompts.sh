#!/usr/bin/env bash
# Regenerates the IVR prompts under ivr-flows/prompts/ from text, with
# espeak-ng (speech) and sox (resampling to 8 kHz, 16-bit, mono — the format
# the prompt player reads). The WAV files are committed, so this only needs
# to run when a prompt's wording changes:
#   apt-get install -y espeak-ng sox && scripts/make-prompts.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { # say LANG VOICE FILE TEXT
    local dir="ivr-flows/prompts/$1" tmp
    mkdir -p "$dir"
    tmp=$(mktemp --suffix=.wav)
    espeak-ng -v "$2" -s 150 -w "$tmp" "$4"
    # -G guards against clipping; trim silence at both ends so prompts
    # chain without gaps, then pad 100 ms so words do not run together.
    sox -G "$tmp" -r 8000 -c 1 -b 16 -e signed-integer "$dir/$3.wav" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.1
    rm -f "$tmp"
}

en() { say en en-us "$1" "$2"; }
en welcome "Welcome to the after-sales service hotline. Please enter your ticket number, then press the pound key."
en you-entered "You entered"
en goodbye "Thank you for calling. Goodbye."
names=(zero one two three four five six seven eight nine)
for d in 0 1 2 3 4 5 6 7 8 9; do en "digit-$d" "${names[$d]}"; done
en digit-star "star"
en digit-pound "pound"

zh() { say zh cmn "$1" "$2"; }
zh welcome "欢迎致电售后服务热线。请输入您的工单号码，以井号键结束。"
zh you-entered "您输入的是"
zh goodbye "感谢您的来电，再见。"
zhnames=(零 一 二 三 四 五 六 七 八 九)
for d in 0 1 2 3 4 5 6 7 8 9; do zh "digit-$d" "${zhnames[$d]}"; done
zh digit-star "星号"
zh digit-pound "井号"
